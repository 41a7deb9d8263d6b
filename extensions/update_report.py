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


def status(folder: Path) -> dict[str, str]:
    """Each changed path with its two-letter `git status` code, from one git call (the
    app may hold tens of thousands of files)."""
    out = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"],
                         cwd=folder, capture_output=True, text=True).stdout
    entries, codes = out.split("\0"), {}
    while entries:
        entry = entries.pop(0)
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            entries.pop(0)  # a rename's source follows its target
        codes[path] = code
    return codes


def deleted(codes: dict[str, str]) -> list[str]:
    return sorted(path for path, code in codes.items() if "D" in code and "U" not in code)


def conflicted_files(folder: Path, codes: dict[str, str]) -> list[str]:
    unmerged = {path for path, code in codes.items() if "U" in code or code in ("AA", "DD")}
    with_markers = {path for path, code in codes.items() if "D" not in code
                    and (folder / path).is_file()
                    and any(line.startswith(MARKER)
                            for line in (folder / path).read_bytes().splitlines())}
    return sorted(unmerged | with_markers)


def restore_app_owned(folder: Path, codes: dict[str, str], copier_yml: Path) -> list[str]:
    """Put back the app's own files (copier.yml's _skip_if_exists) the update deleted."""
    gone = deleted(codes)
    if not gone:
        return []
    import yaml
    from pathspec import PathSpec

    patterns = yaml.safe_load(copier_yml.read_text(encoding="utf-8")).get("_skip_if_exists", [])
    matches = PathSpec.from_lines("gitwildmatch", patterns).match_file
    kept = [name for name in gone if matches(name)]
    for name in kept:
        subprocess.run(["git", "checkout", "HEAD", "--", name], cwd=folder, check=True,
                       capture_output=True)
        codes.pop(name)
    return kept


def stale_imports(folder: Path, codes: dict[str, str]) -> list[str]:
    """`file: line` for each import, in the app's Python files, of a module the update
    deleted."""
    found = []
    for module in (Path(name) for name in deleted(codes) if name.endswith(".py")):
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


def answers_moved(folder: Path, codes: dict[str, str]) -> bool:
    return OLD_ANSWERS in deleted(codes) and (folder / ANSWERS).is_file()


if __name__ == "__main__":
    here = Path.cwd()
    codes = status(here)
    for name in restore_app_owned(here, codes, Path(sys.argv[1])):
        print(f"Kept {name}: it is yours, though the answers no longer need it.")
    for reference in stale_imports(here, codes):
        print(f"{reference} names a module this update removed: delete that line, or the "
              f"app will not import.", file=sys.stderr)
    if answers_moved(here, codes):
        print(f"Your answers to copier-heroku now live in {ANSWERS}, its own file, so they "
              f"no longer share {OLD_ANSWERS} with another template: from now on run "
              f"`copier update --trust -a {ANSWERS}`.")
    files = conflicted_files(here, codes)
    if files:
        print(f"copier update left conflicts in {len(files)} file(s): {', '.join(files)}. "
              "Keep what you need between the '<<<<<<< before updating' and "
              "'>>>>>>> after updating' markers, delete the markers, then commit.",
              file=sys.stderr)
