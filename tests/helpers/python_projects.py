"""Python projects as their own tools make them before the deploy layer arrives, the layer
copied onto them, and their packages installed the way Heroku's Python buildpack installs
them. Shared by tests/test_buildpack_rules.py and tests/test_python_builds.py.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import yaml
from copier_heroku import build_plan, python_packages
from copier_heroku.stacks import PACKAGE_MANAGERS

from helpers.python_tools import PYPI_SIMPLE, python_for, tool_env
from helpers.template import generate, git
from helpers.tools import missing

# The app's Python package in every project below.
MODULE = "shop"


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> str:
    """Run a tool; a failure that looks like the network skips (fails under REQUIRE_E2E)."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode:
        output = done.stdout + done.stderr
        if any(word in output for word in ("Failed to fetch", "Could not connect",
                                           "ConnectionError", "Max retries exceeded",
                                           "Temporary failure in name resolution")):
            missing(f"`{' '.join(argv)}` cannot reach PyPI:\n{output[-1500:]}")
        raise RuntimeError(f"`{' '.join(argv)}` failed ({done.returncode}):\n{output[-4000:]}")
    return done.stdout


def plan_of(app: Path):
    return build_plan(yaml.safe_load((app / ".copier-answers.heroku.yml").read_text()))


# --------------------------------------------------------------------------- before the copy

def uv_project(dst: Path, env: dict[str, str]) -> Path:
    """`uv init`: pyproject.toml, .python-version, .gitignore, README.md, git; uv 0.12
    also makes a package of the project, under src/ (demo_shop, not the app's `shop`)."""
    dst.mkdir(parents=True)
    run(["uv", "init", "--name", "demo-shop"], dst, env)
    return dst


def poetry_project(dst: Path, env: dict[str, str]) -> Path:
    """`poetry init`: pyproject.toml only; PyPI's simple index as its source (see
    python_tools.PYPI_SIMPLE). Named after the app's package, which Poetry installs as the
    project itself (its package mode, on by default)."""
    dst.mkdir(parents=True)
    run(["poetry", "init", "--no-interaction", "--name", MODULE], dst, env)
    run(["poetry", "source", "add", "--priority=primary", "pypi-simple", PYPI_SIMPLE], dst, env)
    git(dst, "init", "-q")
    return dst


def pip_project(dst: Path) -> Path:
    """A requirements.txt that names Django, the way a pip project starts."""
    dst.mkdir(parents=True)
    (dst / "requirements.txt").write_text("Django>=4.2,<6\n")
    git(dst, "init", "-q")
    return dst


def startproject(dst: Path, python: str) -> Path:
    """`django-admin startproject shop .`, by a Python that has Django."""
    run([python, "-m", "django", "startproject", MODULE, "."], dst, dict(os.environ))
    return dst


def copy_layer(app: Path, tools: Path, env: dict[str, str], **answers: Any) -> Path:
    """`copier copy --defaults` onto the project, with uv and Poetry on PATH."""
    return generate(app, {"stack": "django", "python_module": MODULE,
                          "addons": ["heroku-postgresql"], **answers},
                    tools=tools, env=env)


def still_to_run(app: Path) -> str:
    """The command the copy prints as still to run for the lock ("" when none is)."""
    plan = plan_of(app)
    pm = plan.package_manager
    if not (pm and pm.project_file):
        return ""

    def read(name: str) -> str | None:
        return (app / name).read_text() if (app / name).is_file() else None

    return python_packages.lock_work(pm, plan.packages, read(pm.project_file),
                                     read(pm.lock_file), lock_only=False)


def follow_the_copy(app: Path, env: dict[str, str]) -> None:
    """Run what the copy printed as still to do for the lock, as a person would; with
    Poetry, the project first gets the simple index (see PYPI_SIMPLE)."""
    command = still_to_run(app)
    if not command:
        return
    if plan_of(app).package_manager.key == "poetry" and PYPI_SIMPLE not in \
            (app / "pyproject.toml").read_text():
        run(["poetry", "source", "add", "--priority=primary", "pypi-simple", PYPI_SIMPLE],
            app, env)
    run(["bash", "-c", command], app, env)


# --------------------------------------------------------------------------- the build's install

def build_install(app: Path, build: Path, env: dict[str, str]) -> Path:
    """The app's packages installed as the buildpack installs them, into a venv of the
    Python of `.python-version` (bin/compile; lib/uv.sh, lib/poetry.sh, lib/pip.sh).
    Returns the venv."""
    python = python_for((app / ".python-version").read_text().strip())
    run([python, "-m", "venv", "--clear", str(build)], app, env)
    bin_dir = build / "bin"
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    key = plan_of(app).package_manager.key
    install = PACKAGE_MANAGERS[key].build_install.split()
    if key == "uv":
        # lib/uv.sh: uv manages the build's Python itself instead of a venv of its own.
        run(install, app, {**env, "UV_PROJECT_ENVIRONMENT": str(build),
                           "UV_PYTHON": str(bin_dir / "python")})
    elif key == "poetry":
        # lib/poetry.sh: Poetry installs into the build's Python, not a venv of its own.
        run(install, app, {**env, "POETRY_VIRTUALENVS_CREATE": "false",
                           "VIRTUAL_ENV": str(build)})
    else:
        run([str(bin_dir / "python"), "-m", *install], app, env)
    return build


def heroku_build_env(app: Path, base: dict[str, str], stage: str = "staging") -> dict[str, str]:
    """What a build or a dyno of this stage sees: the config vars bin/heroku-setup sets,
    with its random secrets, and nothing from .env (gitignored, never pushed)."""
    plan = plan_of(app)
    values = plan.config_values(stage)
    values.update({name: secrets.token_urlsafe(50) for name in plan.generated_secrets(stage)})
    return {**base, **values}


def with_tools(base: dict[str, str], tools: Path, version: str) -> dict[str, str]:
    return tool_env(base, tools, python_for(version))
