"""Copier migration, after every update: put back what the update must not take, and say
what it left for you to do.

    update_report.py COPIER_YML     (the template's copier.yml, for its _skip_if_exists)

- A file of the app's own (copier.yml's _skip_if_exists: the starter app, the worker's
  tasks.py) that the update deleted because an answer dropped its concern is put back
  from git: Copier removes every file the old version wrote and the new one does not.
- A Python file of the app's that still imports a module the update removed (an older
  release's `from .worker import ...` in __init__.py, after dropping Celery) is named,
  with the line to delete.
- The files the merge left in conflict, so nobody commits a Procfile with conflict markers.
- When the answers moved from Copier's default .copier-answers.yml to this template's own
  file, the `-a` that `copier update` needs from now on.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MARKER = b"<<<<<<< "
OLD_ANSWERS, ANSWERS = ".copier-answers.yml", ".copier-answers.heroku.yml"


def git_lines(folder: Path, *args: str) -> list[str]:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True,
                          text=True).stdout.splitlines()


def conflicted_files(folder: Path) -> list[str]:
    listed = git_lines(folder, "diff", "--name-only", "--diff-filter=U")
    changed = git_lines(folder, "ls-files", "--modified", "--others", "--exclude-standard")
    with_markers = [name for name in changed if (folder / name).is_file()
                    and any(line.startswith(MARKER)
                            for line in (folder / name).read_bytes().splitlines())]
    return sorted(set(listed) | set(with_markers))


def app_owned(copier_yml: Path):
    """A matcher of copier.yml's _skip_if_exists patterns, as Copier matches them."""
    import yaml
    from pathspec import PathSpec

    patterns = yaml.safe_load(copier_yml.read_text(encoding="utf-8")).get("_skip_if_exists", [])
    return PathSpec.from_lines("gitwildmatch", patterns).match_file


def restore_app_owned(folder: Path, copier_yml: Path) -> list[str]:
    """Put back the app's own files that the update deleted."""
    matches = app_owned(copier_yml)
    deleted = [name for name in git_lines(folder, "ls-files", "--deleted") if matches(name)]
    for name in deleted:
        subprocess.run(["git", "checkout", "HEAD", "--", name], cwd=folder, check=True,
                       capture_output=True)
    return deleted


def stale_imports(folder: Path) -> list[str]:
    """`file: line` for each import, in the app's Python files, of a module the update
    deleted."""
    gone = [Path(name) for name in git_lines(folder, "ls-files", "--deleted")
            if name.endswith(".py")]
    found = []
    for module in gone:
        package, name = ".".join(module.parent.parts), module.stem
        pattern = re.compile(rf"^[ \t]*(from\s+(\.|{re.escape(package)}\.){name}\s+import|"
                             rf"import\s+{re.escape(package)}\.{name}\b|"
                             rf".*[\"']{re.escape(package)}\.{name}\.)", re.M)
        for source in sorted((folder / module.parent).glob("*.py")):
            text = source.read_text(encoding="utf-8")
            for match in pattern.finditer(text):
                line = text[match.start():].splitlines()[0].strip()
                found.append(f"{source.relative_to(folder)}: {line}")
    return found


def answers_moved(folder: Path) -> bool:
    deleted = git_lines(folder, "ls-files", "--deleted")
    return OLD_ANSWERS in deleted and (folder / ANSWERS).is_file()


if __name__ == "__main__":
    here = Path.cwd()
    for name in restore_app_owned(here, Path(sys.argv[1])):
        print(f"Kept {name}: it is yours, though the answers no longer need it.")
    for reference in stale_imports(here):
        print(f"{reference} names a module this update removed: delete that line, or the "
              f"app will not import.", file=sys.stderr)
    if answers_moved(here):
        print(f"Your answers to copier-heroku now live in {ANSWERS}, its own file, so they "
              f"no longer share {OLD_ANSWERS} with another template: from now on run "
              f"`copier update --trust -a {ANSWERS}`.")
    files = conflicted_files(here)
    if files:
        print(f"copier update left conflicts in {len(files)} file(s): {', '.join(files)}. "
              "Keep what you need between the '<<<<<<< before updating' and "
              "'>>>>>>> after updating' markers, delete the markers, then commit.",
              file=sys.stderr)
