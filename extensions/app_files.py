"""Copier task, after every copy and update: the layer's lines in files the app owns.

    app_files.py ANSWERS_FILE TEMPLATE_ROOT

Reads the answers Copier just wrote, plans them as the templates did, and keeps, in the
app's own files (owned_lines.py):

- the dependency include, once: `eval_gemfile "Gemfile.deploy"` in the Gemfile, `-r
  requirements-deploy.txt` in requirements.txt (left alone when present, even commented
  out; when the file is missing, says which line to add);
- the marked block at the end of .gitignore (`.env` and the key files stay out of git), of
  Procfile.dev (the layer's processes; the app's watchers stay) and, with Puma on Rails, of
  config/puma.rb (Heroku's Puma settings): present, current and last;
- with Heroku Postgres on Rails, a `url:` reading DATABASE_URL in each production database
  of config/database.yml that has none (Rails 8's cache, queue and cable databases);
- uv and Poetry: the layer's packages that pyproject.toml does not declare yet, added by the
  app's own tool (`uv add --no-sync`, `poetry add --lock`), which writes the lock Heroku's
  buildpack installs from; only when the tool is on PATH, else the message after the copy
  prints the command. Packages the app declares already keep the app's own pins. On
  update, a package the layer added before and no longer needs is left in place and named;
- an unedited copy of a file an older release owned whole (config/puma.rb of v0.2.0) is
  replaced by the one the layer writes for a new app today, rendered from TEMPLATE_ROOT.

Touches nothing else.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from copier_heroku import build_plan, owned_lines, python_packages  # noqa: E402
from copier_heroku.model import Package, PackageManager  # noqa: E402
from copier_heroku.plan import Plan  # noqa: E402

ANSWERS_FILES = (".copier-answers.heroku.yml", ".copier-answers.yml")


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None

SAID = {
    ".gitignore": ".gitignore: the copier-heroku block is back in place, last "
                  "(.env stays out of git)",
    "Procfile.dev": "Procfile.dev: the copier-heroku block holds the layer's processes; "
                    "your other lines stay",
}


def read_texts(folder: Path, plan: Plan) -> dict[str, str | None]:
    """The current text of every app file the plan keeps lines in; None when missing."""
    paths = [*plan.owned_blocks,
             *([plan.dependency_include.app_file] if plan.dependency_include else [])]
    if plan.database_config:
        paths.append(plan.database_config)
    return {path: (folder / path).read_text(encoding="utf-8")
            if (folder / path).is_file() else None for path in paths}


def pending(folder: Path, plan: Plan) -> dict[str, str]:
    """path -> the new text, for each app file that is not in line with the plan."""
    return owned_lines.changes(read_texts(folder, plan), blocks=plan.owned_blocks,
                               include=plan.dependency_include,
                               database_config=plan.database_config)


def render(template_root: Path, path: str, plan: Plan) -> str:
    """A file of template/ as a copy writes it: its templates read nothing but the plan."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined  # Copier's own

    environment = Environment(loader=FileSystemLoader(str(template_root)),
                              undefined=StrictUndefined, keep_trailing_newline=True)
    return environment.get_template(f"template/{path}.jinja").render(deploy=plan)


def replace_legacy(folder: Path, plan: Plan, template_root: Path) -> list[str]:
    said = []
    for path in owned_lines.LEGACY_WHOLE_FILES:
        target = folder / path
        if path in plan.owned_blocks and target.is_file() and \
                owned_lines.is_legacy(path, target.read_text(encoding="utf-8")):
            target.write_text(render(template_root, path, plan), encoding="utf-8")
            said.append(f"{path}: unedited since an older release wrote it, so replaced by "
                        f"the one a new app gets (it is yours from now on)")
    return said


def ensure(folder: Path, plan: Plan, template_root: Path | None = None) -> list[str]:
    """Bring the app's own files in line; return what happened, in words for the user."""
    said = replace_legacy(folder, plan, template_root) if template_root else []
    include = plan.dependency_include
    for path, text in pending(folder, plan).items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if include and path == include.app_file:
            said.append(f"Added to {include.app_file}: {include.line}")
        elif path == plan.database_config:
            said.append(f"{path}: every production database reads DATABASE_URL, as Heroku "
                        f"has one")
        else:
            said.append(SAID.get(path, f"{path}: the copier-heroku block is in place, last"))
    manager = plan.package_manager
    if manager and manager.project_file:
        said += ensure_locked(folder, manager, plan.packages)
        if os.environ.get("COPIER_OPERATION") == "update":
            said += no_longer_needed(folder, manager, plan.packages)
    return said


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
    from (Copier updates a clean git tree only). Older releases kept the answers in
    Copier's default file."""
    for answers_file in ANSWERS_FILES:
        try:
            done = subprocess.run(["git", "show", f"HEAD:{answers_file}"], cwd=folder,
                                  capture_output=True, text=True, check=False)
        except OSError:
            return []
        if done.returncode == 0:
            break
    else:
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


def load_plan(answers_file: Path) -> Plan:
    import yaml  # Copier's own dependency

    return build_plan(yaml.safe_load(answers_file.read_text(encoding="utf-8")) or {})


if __name__ == "__main__":
    for line in ensure(Path.cwd(), load_plan(Path(sys.argv[1])), Path(sys.argv[2])):
        print(line)
