"""Real runs for each package manager: a uv project and a Poetry project made by the real
tools from PyPI, and a pip project, the layer copied onto each; the packages installed the
way Heroku's Python buildpack installs them (`uv sync --locked --no-default-groups`,
`poetry sync --only main`, `pip install -r requirements.txt`) into a Python of the app's
`.python-version`; then the build's collectstatic, the Procfile's release line against a
real PostgreSQL, and its web line under honcho answering /health behind the router's
headers. `bin/dev` works too, from the app's own virtual environment with nothing
activated; and README's Django and Flask steps work as written in a fresh folder.

Each server runs in a network namespace of its own (tests/support/boot_probe.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from copier_heroku.stacks import PYTHON_VERSION
from helpers.boot_apps import PORT, ROUTER_HEADERS, boot, boot_env, describe, stopped_cleanly
from helpers.buildpack import collectstatic, refusals
from helpers.paths import ROOT
from helpers.postgres import create_database
from helpers.python_projects import (
    MODULE,
    build_install,
    copy_layer,
    heroku_build_env,
    pip_project,
    poetry_project,
    run,
    uv_project,
    with_tools,
)
from helpers.python_tools import package_manager_tools
from helpers.template import path_without_package_managers

pytestmark = pytest.mark.slow

MANAGERS = ["uv", "poetry", "pip"]
HONCHO = [sys.executable, "-m", "honcho"]  # the test environment's; the app's needs none
HONCHO_STOPPED = 143  # honcho exits 128 + SIGTERM
NO_ENV_FILE = ["-e", "/dev/null"]  # .env is gitignored: Heroku never sees it


@pytest.fixture(scope="module")
def tools() -> Path:
    return package_manager_tools()


@pytest.fixture(scope="module")
def tool_environment(tools, tmp_path_factory) -> dict[str, str]:
    base = boot_env(tmp_path_factory.mktemp("home"))
    base["PATH"] = path_without_package_managers(base["PATH"])
    return with_tools(base, tools, PYTHON_VERSION)


@pytest.fixture(scope="module")
def projects(tmp_path_factory, tools, tool_environment):
    """manager -> (app, build venv), made on first use."""
    made = {}

    def get(manager: str):
        if manager not in made:
            parent = tmp_path_factory.mktemp(manager)
            env = tool_environment
            before = {"uv": lambda: uv_project(parent / MODULE, env),
                      "poetry": lambda: poetry_project(parent / MODULE, env),
                      "pip": lambda: pip_project(parent / MODULE)}[manager]()
            app = copy_layer(before, tools, env)
            made[manager] = (app, build_install(app, parent / "build", env))
        return made[manager]

    return get


@pytest.fixture(scope="module")
def pg_admin(request) -> str:
    return request.getfixturevalue("postgres_server")


def procfile(app: Path) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (app / "Procfile").read_text().splitlines())


def on_dyno(app: Path, build: Path, base: dict[str, str], **values: str) -> dict[str, str]:
    """A production dyno's environment: the build's Python first on PATH, the config vars."""
    env = heroku_build_env(app, base, "production")
    env["PATH"] = f"{build / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("VIRTUAL_ENV", None)
    return {**env, **values}


# --------------------------------------------------------------------------- the build

@pytest.mark.parametrize("manager", MANAGERS)
def test_the_build_installs_from_the_apps_own_lock_and_collects_static_files(
        projects, tool_environment, manager):
    app, build = projects(manager)
    assert refusals(app) == []
    env = heroku_build_env(app, {"PATH": os.environ["PATH"], "HOME": str(build.parent)})
    done = collectstatic(app, str(build / "bin" / "python"), env)
    assert done is not None and done.returncode == 0, done and done.stdout + done.stderr
    assert (app / "staticfiles" / "staticfiles.json").is_file()


@pytest.mark.parametrize("manager", MANAGERS)
def test_release_then_web_answer_health_behind_the_router(projects, tool_environment,
                                                          pg_admin, manager):
    app, build = projects(manager)
    database_url = create_database(pg_admin)
    env = on_dyno(app, build, tool_environment, DATABASE_URL=database_url)

    release = subprocess.run(procfile(app)["release"], shell=True, cwd=app, env=env,
                             capture_output=True, text=True, timeout=300, check=False)
    assert release.returncode == 0, release.stdout + release.stderr

    report = boot(app, [*HONCHO, "start", "web", *NO_ENV_FILE, "-p", str(PORT)], env,
                  path="/health", headers=ROUTER_HEADERS, database_url=database_url)
    assert report["status"] == 200, describe(report)
    assert report["headers"].get("Server") == "gunicorn"
    assert "Using worker: gthread" in report["output"], describe(report)
    assert not stopped_cleanly(report, HONCHO_STOPPED), stopped_cleanly(report, HONCHO_STOPPED)


# --------------------------------------------------------------------------- bin/dev

def bin_dev(app: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """bin/dev outside a namespace: it stops at once when honcho is missing. Should it
    start instead, its process group is stopped after a while."""
    process = subprocess.Popen(["bin/dev"], cwd=app, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err += "\n(bin/dev was still running after 120 s: it found a honcho)"
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# How a developer gets the app's packages, in the app's own virtual environment.
DEVELOPER_INSTALL = {"uv": ["uv", "sync"], "poetry": ["poetry", "install"],
                     "pip": ["bash", "-c", "python3 -m venv .venv && "
                                           ".venv/bin/pip install -q -r requirements.txt"]}


@pytest.mark.parametrize("manager", MANAGERS)
def test_bin_dev_says_the_one_command_that_installs_honcho_then_answers_health(
        projects, tool_environment, manager):
    app, _ = projects(manager)
    env = {**tool_environment, "UV_PYTHON": tool_environment["UV_PYTHON"]}
    run(DEVELOPER_INSTALL[manager], app, env)

    missing_honcho = bin_dev(app, env)
    assert missing_honcho.returncode == 127, missing_honcho.stderr
    said = re.search(r"run '([^']+)', then bin/dev again", missing_honcho.stderr)
    assert said, missing_honcho.stderr
    run(["bash", "-c", said.group(1)], app, env)

    report = boot(app, ["bin/dev", "-p", str(PORT)], env, path="/health")
    assert report["status"] == 200, describe(report)
    assert "Starting development server" in report["output"]
    assert not stopped_cleanly(report, HONCHO_STOPPED), stopped_cleanly(report, HONCHO_STOPPED)


# --------------------------------------------------------------------------- README

def readme_python_steps() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Django and Flask"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("stack", ["django", "flask"])
def test_readme_steps_work_as_written_in_a_fresh_folder_without_a_terminal(
        tmp_path, tool_environment, stack):
    steps = readme_python_steps()
    assert steps[-1] == "bin/dev"
    script = "\n".join(steps[:-1]).replace("stack=django", f"stack={stack}").replace(
        "gh:YOUR-ORG/copier-heroku", f"--vcs-ref HEAD {ROOT}")
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "copier").write_text(f'#!/bin/sh\nexec {sys.executable} -m copier "$@"\n')
    (shims / "copier").chmod(0o755)
    env = {**tool_environment, "PATH": f"{shims}{os.pathsep}{tool_environment['PATH']}",
           "TERM": "dumb"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    folder = tmp_path / re.search(r"mkdir (\S+)", script).group(1)
    assert (folder / "uv.lock").is_file() and not (folder / "requirements.txt").exists()
    assert refusals(folder) == []

    report = boot(folder, ["bin/dev", "-p", str(PORT)], env, path="/health")
    assert report["status"] == 200, describe(report)
    assert not stopped_cleanly(report, HONCHO_STOPPED), stopped_cleanly(report, HONCHO_STOPPED)

