"""Copier task, after every copy and update: the layer's lines in files the app owns.

    app_files.py '{"stack": "django", "package_manager": "uv", "packages": [[name, req], ...]}'

- The dependency include, once: `eval_gemfile "Gemfile.deploy"` in the Gemfile, `-r
  requirements-deploy.txt` in requirements.txt (left alone when present, even commented
  out; when the file is missing, says which line to add).
- uv and Poetry: the layer's packages that pyproject.toml does not declare yet, added by the
  app's own tool (`uv add --no-sync`, `poetry add --lock`), which writes the lock Heroku's
  buildpack installs from; only when the tool is on PATH, else the copy prints the command.
  Packages the app declares already keep the app's own pins. On update, a package the layer
  added before and no longer needs is left in place and named.
- The marked block of .gitignore that keeps `.env` and the stack's key files out of git:
  present, current and last, whatever a merge or a person did to the rest of the file.

Touches nothing else. What the lines are is the stack's and the package manager's entry in
the catalog.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from copier_heroku import build_plan, owned_lines, python_packages  # noqa: E402
from copier_heroku.model import DependencyInclude, Package, PackageManager  # noqa: E402
from copier_heroku.stacks import PACKAGE_MANAGERS, STACKS  # noqa: E402

ANSWERS_FILE = ".copier-answers.yml"


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def ensure_include(folder: Path, include: DependencyInclude) -> list[str]:
    app_file = folder / include.app_file
    if not app_file.exists():
        return [f"No {include.app_file} here: add this line to the app's "
                f"{include.app_file}: {include.line}"]
    text = app_file.read_text(encoding="utf-8")
    if owned_lines.has_include(text, include):
        return []
    app_file.write_text(owned_lines.with_include(text, include), encoding="utf-8")
    return [f"Added to {include.app_file}: {include.line}"]


def ensure_locked(folder: Path, manager: PackageManager, packages: list[Package]) -> list[str]:
    """Run the app's package manager when the lock lacks the layer's packages and the tool
    is on PATH. A failure is reported, never raised: the copy is written by then, and the
    message after it names the command that is still to run."""
    project = _read(folder / manager.project_file) if manager.project_file else None
    work = python_packages.lock_work(manager, packages, project,
                                     _read(folder / manager.lock_file) if project else None,
                                     lock_only=True)
    if not work:
        return []
    argv = shlex.split(work)
    if not shutil.which(argv[0]):
        return []
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return [f"`{work}` failed (exit {done.returncode}); run it yourself once it can "
                f"work:", *(f"    {line}" for line in tail)]
    return [f"{manager.lock_file} now holds the deploy layer's packages (ran `{work}`)"]


def previous_packages(folder: Path) -> list[Package]:
    """The layer's packages under the answers of the last commit: what an update starts
    from (Copier updates a clean git tree only)."""
    try:
        done = subprocess.run(["git", "show", f"HEAD:{ANSWERS_FILE}"], cwd=folder,
                              capture_output=True, text=True, check=False)
    except OSError:
        return []
    if done.returncode:
        return []
    import yaml

    try:
        answers = yaml.safe_load(done.stdout) or {}
        return build_plan(answers).packages if "stack" in answers else []
    except Exception:  # an answers file from another template version: nothing to say
        return []


def no_longer_needed(folder: Path, manager: PackageManager, packages: list[Package]) -> list[str]:
    """Name the packages the layer asked for before, no longer needs, and the project file
    still declares: the app may use them too, so they stay, and the person decides."""
    project = _read(folder / manager.project_file) if manager.project_file else None
    if project is None:
        return []
    wanted = {python_packages.requirement_name(p.name) for p in packages}
    declared = python_packages.declared(manager.project_file, project)
    left = [name for name in python_packages.lock_names(previous_packages(folder))
            if name not in wanted and name in declared]
    if not left:
        return []
    return [f"The deploy layer no longer needs {', '.join(left)}; left in "
            f"{manager.project_file} in case the app uses it. If it does not: "
            f"{manager.remove.format(packages=' '.join(left))}"]


def ensure(folder: Path, job: dict) -> list[str]:
    """Bring the app's own files in line; return what happened, in words for the user."""
    stack = STACKS[job["stack"]]
    manager = PACKAGE_MANAGERS.get(job.get("package_manager") or "")
    packages = [Package(name, requirement) for name, requirement in job.get("packages", [])]
    said = []
    include = manager.include if manager else stack.dependency
    if include:
        said += ensure_include(folder, include)
    if manager and manager.project_file:
        said += ensure_locked(folder, manager, packages)
        if os.environ.get("COPIER_OPERATION") == "update":
            said += no_longer_needed(folder, manager, packages)
    gitignore = folder / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if owned_lines.needs_block(text, stack.ignored):
        gitignore.write_text(owned_lines.with_block(text, stack.ignored), encoding="utf-8")
        said.append(".gitignore: the copier-heroku block is back in place, last "
                    "(.env stays out of git)")
    return said


if __name__ == "__main__":
    for line in ensure(Path.cwd(), json.loads(sys.argv[1])):
        print(line)
