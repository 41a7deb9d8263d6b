"""Generating apps from the template, and the template as a git repository of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from helpers.paths import ROOT

# Where an app records its answers to this template (copier.yml's _answers_file).
ANSWERS_FILE = ".copier-answers.heroku.yml"

# The Python package managers a copy runs when they are on PATH (uv add, poetry add).
PACKAGE_MANAGER_TOOLS = ("uv", "poetry", "pipenv")


def path_without_package_managers(path: str) -> str:
    """PATH without the folders that hold a Python package manager, so that a copy runs
    none, whatever this machine has installed."""
    def holds_one(folder: str) -> bool:
        return any(os.access(os.path.join(folder, tool), os.X_OK)
                   for tool in PACKAGE_MANAGER_TOOLS)

    return os.pathsep.join(f for f in path.split(os.pathsep) if f and not holds_one(f))


@contextmanager
def package_managers_on_path(tools: Path | None,
                             env: dict[str, str] | None = None) -> Iterator[None]:
    """During the block, PATH holds `tools` (a folder with uv, poetry) and no other
    package manager (None: none at all), and the environment holds `env` too: both this
    process's and the one Copier gives its tasks (plumbum's copy, taken at import)."""
    from plumbum import local

    saved = dict(os.environ)
    changes = {**(env or {}), "PATH": os.pathsep.join(
        [*([str(tools)] if tools else []), path_without_package_managers(saved["PATH"])])}
    os.environ.update(changes)
    try:
        with local.env(**changes):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def generate(dst: Path, data: dict[str, Any] | None = None, *, vcs_ref: str | None = "HEAD",
             src: Path | str = ROOT, tools: Path | None = None,
             env: dict[str, str] | None = None, **kwargs: Any) -> Path:
    """Run `copier copy` with default answers plus `data`, like `copier copy --defaults`.

    The copy runs a Python package manager only from `tools` (see
    package_managers_on_path), with `env` added to its environment: without them, the tree
    is the same on every machine."""
    from copier import run_copy

    answers = {"project_name": "Demo Shop", **(data or {})}
    options = {"defaults": True, "unsafe": True, "quiet": True, **kwargs}
    with package_managers_on_path(tools, env):
        run_copy(str(src), str(dst), data=answers, vcs_ref=vcs_ref, **options)
    return dst


def committed(dst: Path, data: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    """An app generated with `data`, in a git repository (branch main) with one commit, as
    a team keeps it."""
    app = generate(dst, data, **kwargs)
    git(app, "init", "-q", "-b", "main")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "generated")
    return app


def update(app: Path, data: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Run `copier update --trust --defaults -a .copier-answers.heroku.yml` in the app."""
    from copier import run_update

    options = {"defaults": True, "overwrite": True, "unsafe": True, "quiet": True,
               "answers_file": ANSWERS_FILE, **kwargs}
    with package_managers_on_path(None):
        run_update(str(app), data=data or {}, **options)


def recorded_answers(app: Path) -> dict[str, Any]:
    return yaml.safe_load((app / ANSWERS_FILE).read_text())


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, check=check, text=True,
                          capture_output=True, env=env)


TEMPLATE_PARTS = ("copier.yml", "template", "extensions", "includes")


def snapshot_template(dst: Path) -> Path:
    """The working tree's template (uncommitted edits included) as a repository of its own."""
    dst.mkdir()
    for part in TEMPLATE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / part)
    git(dst, "init", "-q")
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "template")
    return dst


def release(template: Path, tag: str) -> None:
    git(template, "add", "-A")
    git(template, "commit", "-qm", f"release {tag}", "--allow-empty")
    git(template, "tag", tag)


def commit_all(app: Path, message: str) -> None:
    git(app, "add", "-A")
    git(app, "commit", "-qm", message)
