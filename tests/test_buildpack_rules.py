"""Heroku's Python buildpack starts the build of every Python app the template makes: the
buildpack's own checks (read from its source, encoded in tests/helpers/buildpack.py) on
every Python cell of the generation matrix, and on uv, Poetry and pip projects that existed
before the copy; Django's collectstatic, which the build runs, passes with only the config
vars bin/heroku-setup sets.

A matrix cell is copied without uv or Poetry on PATH, then the command the copy prints as
still to run for the lock is run, as a person would; a project that existed before is
copied onto with the tools on PATH, so the copy adds the layer's packages itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from copier_heroku import python_packages
from copier_heroku.stacks import PYTHON_VERSION, STACKS
from helpers.buildpack import collectstatic, refusals
from helpers.paths import ROOT
from helpers.python_projects import (
    MODULE,
    copy_layer,
    follow_the_copy,
    heroku_build_env,
    pip_project,
    plan_of,
    poetry_project,
    run,
    startproject,
    still_to_run,
    uv_project,
    with_tools,
)
from helpers.python_tools import package_manager_tools
from helpers.questions import cell_id, pairwise
from helpers.template import generate, path_without_package_managers

pytestmark = pytest.mark.slow

PYTHON_STACKS = {key for key, stack in STACKS.items() if stack.language == "python"}
CELLS = [(cell_id(answers), answers) for answers in pairwise()
         if answers.get("stack") in PYTHON_STACKS]


# --------------------------------------------------------------------------- the checker

def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("files,words", [
    ({"requirements.txt": "django\n", "uv.lock": "", ".python-version": "3.12\n"},
     "several were found: requirements.txt, uv.lock"),
    ({"poetry.lock": "", "Pipfile.lock": "{}", ".python-version": "3.12\n"},
     "several were found: Pipfile.lock, poetry.lock"),
    ({"pyproject.toml": "[project]\n", ".python-version": "3.12\n"}, "No package-manager file"),
    ({"uv.lock": ""}, "with uv, the buildpack needs a .python-version"),
    ({"uv.lock": "", "runtime.txt": "python-3.12\n"}, "runtime.txt file isn't supported"),
    ({"requirements.txt": "", ".python-version": "3.12.x\n"}, "Invalid Python version"),
    ({"requirements.txt": "", ".python-version": "python-3.12\n"}, "Invalid Python version"),
    ({"requirements.txt": "", ".python-version": "3.9\n"}, "end-of-life"),
    ({"requirements.txt": "", ".python-version": "3.15\n"}, "not recognised"),
    ({"requirements.txt": "", ".python-version": "3.12\n3.13\n"}, "Multiple Python versions"),
    ({"requirements.txt": "", ".python-version": "# only a comment\n"}, "No Python version"),
    ({"requirements.txt": "", "python-version.txt": "3.12\n"}, "spelled incorrectly"),
    ({"requirements.txt": "", ".venv/pyvenv.cfg": "home = /usr/bin\n"}, "Existing '.venv/'"),
    ({"Pipfile": "[packages]\n"}, "Pipfile without Pipfile.lock"),
], ids=["pip-and-uv", "poetry-and-pipenv", "pyproject-without-lock", "uv-without-version",
        "uv-with-runtime-txt", "version-wildcard", "version-prefix", "version-end-of-life",
        "version-unknown", "two-versions", "version-commented-out", "version-misspelled",
        "committed-venv", "pipfile-without-lock"])
def test_the_checker_refuses_what_the_buildpack_refuses(tmp_path, files, words):
    said = refusals(write(tmp_path, files))
    assert any(words in sentence for sentence in said), said


@pytest.mark.parametrize("files", [
    {"requirements.txt": "", ".python-version": "3.12\n"},
    {"uv.lock": "", ".python-version": "# the app's Python\n3.14\n"},
    {"poetry.lock": "", ".python-version": "3.10.4\n"},
    {"requirements.txt": "", ".venv/pyvenv.cfg": "home = /usr/bin\n", ".gitignore": ".venv/\n"},
], ids=["pip", "uv-with-comment", "poetry-exact-patch", "ignored-venv"])
def test_the_checker_lets_through_what_the_buildpack_builds(tmp_path, files):
    assert refusals(write(tmp_path, files)) == []


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tools() -> Path:
    return package_manager_tools()


@pytest.fixture(scope="module")
def tool_environment(tools) -> dict[str, str]:
    return with_tools({**os.environ, "PATH": path_without_package_managers(os.environ["PATH"])},
                      tools, PYTHON_VERSION)


@pytest.fixture(scope="module", params=CELLS, ids=[name for name, _ in CELLS])
def cell_app(request, tmp_path_factory, tool_environment) -> Path:
    _, answers = request.param
    app = generate(tmp_path_factory.mktemp("cell") / "demo-shop", answers)
    follow_the_copy(app, tool_environment)
    return app


@pytest.fixture(scope="module")
def django_python(tmp_path_factory, tools, tool_environment) -> str:
    """One environment with every Django cell's packages, for collectstatic."""
    requirements = sorted({r for _, answers in CELLS if answers["stack"] == "django"
                           for r in plan_of_answers(answers).requirements})
    target = tmp_path_factory.mktemp("django-env") / "venv"
    run(["uv", "venv", "--quiet", str(target)], target.parent, tool_environment)
    run(["uv", "pip", "install", "--quiet", "--python", str(target / "bin" / "python"),
         *requirements], target.parent, tool_environment)
    return str(target / "bin" / "python")


def plan_of_answers(answers):
    from copier_heroku import build_plan

    return build_plan({"project_name": "Demo Shop", **answers})


# --------------------------------------------------------------------------- the matrix

def test_every_python_cell_of_the_matrix_starts_a_build(cell_app):
    assert refusals(cell_app) == []
    assert still_to_run(cell_app) == "", "the lock should now hold the layer's packages"


def test_django_collectstatic_passes_with_only_the_config_vars_setup_sets(cell_app,
                                                                         django_python):
    if not plan_of(cell_app).uses("django"):
        pytest.skip("collectstatic is Django's build step")
    env = heroku_build_env(cell_app, {"PATH": os.environ["PATH"], "HOME": str(cell_app.parent)})
    done = collectstatic(cell_app, django_python, env)
    assert done is not None, "the build would skip collectstatic"
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------- projects before

@pytest.fixture(scope="module")
def existing(tmp_path_factory, tools, tool_environment) -> dict[str, Path]:
    """A uv, a Poetry and a pip project, made before the copy, the layer copied onto each
    with the tools on PATH."""
    env = tool_environment
    made = {"uv": uv_project(tmp_path_factory.mktemp("uv") / MODULE, env),
            "poetry": poetry_project(tmp_path_factory.mktemp("poetry") / MODULE, env),
            "pip": pip_project(tmp_path_factory.mktemp("pip") / MODULE)}
    return {key: copy_layer(app, tools, env) for key, app in made.items()}


@pytest.mark.parametrize("manager", ["uv", "poetry", "pip"])
def test_the_copy_takes_the_package_manager_the_project_uses(existing, manager):
    app = existing[manager]
    plan = plan_of(app)
    assert plan.package_manager.key == manager
    others = set(plan.other_package_manager_files)
    assert not others & {p.name for p in app.iterdir()}, "a second package-manager file"
    if manager == "pip":
        assert "-r requirements-deploy.txt" in (app / "requirements.txt").read_text()
        assert (app / "requirements.txt").read_text().startswith("Django>=4.2,<6\n")
        return
    pm = plan.package_manager
    declared = python_packages.declared(pm.project_file, (app / pm.project_file).read_text())
    assert set(plan.lock_names) <= declared
    assert python_packages.lock_lacks(plan.packages, (app / pm.lock_file).read_text(),
                                      pm.lock_entry) == []
    assert still_to_run(app) == ""


@pytest.mark.parametrize("manager", ["uv", "poetry", "pip"])
def test_projects_that_existed_before_the_copy_start_a_build(existing, manager):
    assert refusals(existing[manager]) == []


def test_a_second_copy_onto_a_locked_project_runs_no_package_manager(existing):
    """The task runs only when there is work: the lock holds the packages already."""
    app = existing["uv"]
    before = (app / "uv.lock").read_text()
    spy = app.parent / "spy"
    spy.mkdir()
    (spy / "uv").write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\nexit 1\n')
    (spy / "uv").chmod(0o755)
    generate(app, {"stack": "django", "python_module": MODULE,
                   "addons": ["heroku-postgresql"]}, tools=spy, overwrite=True)
    assert not (spy / "calls").exists()
    assert (app / "uv.lock").read_text() == before


# --------------------------------------------------------------------------- Django's own

def test_a_startproject_folder_takes_the_layer_without_a_terminal(tmp_path, django_python):
    """`django-admin startproject` wrote manage.py and the project package: the copy keeps
    them, writes the rest, and completes with --defaults and no terminal."""
    app = startproject(pip_project(tmp_path / MODULE), django_python)
    settings = (app / MODULE / "settings.py").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD",
         "--data", "stack=django", "--data", f"python_module={MODULE}", str(ROOT), str(app)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TERM": "dumb",
             "PATH": path_without_package_managers(os.environ["PATH"])})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (app / MODULE / "settings.py").read_text() == settings, "the app's own settings"
    assert (app / MODULE / "heroku_env.py").is_file() and (app / "Procfile").is_file()
    assert plan_of(app).package_manager.key == "pip"
    assert refusals(app) == []
    # The project's own settings need STATIC_ROOT before the build's collectstatic
    # passes: DEPLOY.md says so, and a settings file that reads heroku_env does.
    assert "STATIC_ROOT" in (app / "DEPLOY.md").read_text()


def test_the_python_version_file_says_major_and_minor_only(tmp_path):
    """As the buildpack recommends: every build gets the newest patch release."""
    app = generate(tmp_path / "app", {"stack": "flask"})
    assert (app / ".python-version").read_text() == f"{PYTHON_VERSION}\n"
    assert PYTHON_VERSION.count(".") == 1


def test_the_checker_knows_poetry_installs_the_project_itself(tmp_path):
    said = refusals(write(tmp_path, {"poetry.lock": "", ".python-version": "3.12\n",
                                     "pyproject.toml": '[project]\nname = "demo-shop"\n'}))
    assert any("set package-mode = false" in sentence for sentence in said), said
