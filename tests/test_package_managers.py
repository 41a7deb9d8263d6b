"""The app's own package manager: which one the copy finds, which files it writes for each,
how the layer's packages reach the lock (the app's tool when it is on PATH, else the printed
command), what an update says about packages it no longer needs, and bin/heroku-deploy's
refusal of a commit the buildpack would refuse. uv here is a stand-in that records its
arguments; tests/test_python_builds.py runs the real tools.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from copier import run_update
from copier_heroku import build_plan, python_packages
from copier_heroku.answers import package_manager_choice_error
from copier_heroku.model import Package
from copier_heroku.stacks import PACKAGE_MANAGERS
from helpers.heroku_standin import PRODUCTION, STAGING, Heroku
from helpers.paths import ROOT
from helpers.questions import choice_values, is_asked, offered
from helpers.template import (
    ANSWERS_FILE,
    TEMPLATE_PARTS,
    commit_all,
    generate,
    git,
    package_managers_on_path,
    path_without_package_managers,
    release,
)

UV = PACKAGE_MANAGERS["uv"]
POETRY = PACKAGE_MANAGERS["poetry"]
LAYER = [Package("Django", ">=4.2,<6"), Package("gunicorn", ">=22"),
         Package("psycopg[binary]", ">=3.1")]


# --------------------------------------------------------------------------- which one

@pytest.mark.parametrize("names,pyproject,found", [
    ({"uv.lock", "pyproject.toml"}, "", "uv"),
    ({"poetry.lock", "pyproject.toml"}, "", "poetry"),
    ({"Pipfile", "Pipfile.lock"}, "", "pipenv"),
    ({"requirements.txt"}, "", "pip"),
    ({"requirements.txt", "pyproject.toml"}, "[tool.ruff]\n", "pip"),
    ({"pyproject.toml"}, "[project]\nname = 'x'\n", "uv"),
    ({"pyproject.toml"}, "[build-system]\nrequires = ['poetry-core>=2']\n", "poetry"),
    ({"pyproject.toml"}, "[tool.poetry]\nname = 'x'\n", "poetry"),
    ({"uv.lock", "requirements.txt"}, "", "uv"),
    ({"Gemfile"}, "", ""),
], ids=["uv-lock", "poetry-lock", "pipenv", "requirements", "requirements-and-tool-config",
        "uv-init-before-its-lock", "poetry-init", "poetry-1", "lock-wins", "nothing"])
def test_the_package_manager_is_found_from_the_folders_files(names, pyproject, found):
    assert python_packages.detect(names, pyproject) == found


def test_the_question_is_asked_for_python_stacks_only_and_defaults_to_uv():
    assert is_asked("python_package_manager", {"stack": "django"})
    assert not is_asked("python_package_manager", {"stack": "rails"})
    assert choice_values("python_package_manager", {"stack": "flask"}) == ["uv", "poetry", "pip"]


def test_pipenv_is_offered_only_to_an_app_that_uses_it():
    refusal = dict(offered("python_package_manager", {"stack": "django"}))["pipenv"]
    assert refusal.startswith("Pipenv is kept for apps that already have its Pipfile.lock")
    assert package_manager_choice_error("pipenv", "pipenv") == ""


@pytest.mark.parametrize("files,manager", [
    ({"poetry.lock": "", "pyproject.toml": "[project]\nname = 'shop'\n"}, "poetry"),
    ({"requirements.txt": "Flask\n"}, "pip"),
    ({}, "uv"),
], ids=["poetry", "pip", "empty-folder"])
def test_a_copy_with_defaults_takes_the_package_manager_the_folder_uses(tmp_path, files,
                                                                         manager):
    app = tmp_path / "shop"
    app.mkdir()
    for name, text in files.items():
        (app / name).write_text(text)
    generate(app, {"stack": "flask"})
    recorded = yaml.safe_load((app / ANSWERS_FILE).read_text())
    assert recorded["python_package_manager"] == manager
    written = {p.name for p in app.iterdir()}
    others = set(build_plan(recorded).other_package_manager_files)
    assert not written & others, f"a second package-manager file: {written & others}"


@pytest.mark.parametrize("manager,present,absent", [
    ("uv", {"pyproject.toml", ".python-version"}, {"requirements.txt",
                                                   "requirements-deploy.txt"}),
    ("poetry", {"pyproject.toml"}, {"requirements.txt", "requirements-deploy.txt"}),
    ("pip", {"requirements.txt", "requirements-deploy.txt"}, {"pyproject.toml"}),
])
def test_each_package_manager_gets_its_own_files_only(tmp_path, manager, present, absent):
    app = generate(tmp_path / "app", {"stack": "django", "python_package_manager": manager})
    names = {p.name for p in app.iterdir()}
    assert present <= names and not absent & names


def toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10: pip vendors the same parser
        from pip._vendor import tomli as tomllib
    return tomllib.loads(path.read_text())


def test_a_new_folders_pyproject_lists_the_layers_packages_and_honcho_for_development(
        tmp_path):
    app = generate(tmp_path / "app", {"stack": "django", "worker": "celery"})
    project = toml(app / "pyproject.toml")
    plan = build_plan(yaml.safe_load((app / ANSWERS_FILE).read_text()))
    assert project["project"]["dependencies"] == plan.requirements
    assert "celery[redis]>=5.3" in plan.requirements
    assert project["project"]["requires-python"] == f">={plan.python_version}"
    assert project["dependency-groups"]["dev"] == ["honcho>=2"]


def test_a_new_poetry_folder_is_an_app_not_a_package(tmp_path):
    app = generate(tmp_path / "app", {"stack": "flask", "python_package_manager": "poetry"})
    project = toml(app / "pyproject.toml")
    assert project["tool"]["poetry"]["package-mode"] is False
    assert project["tool"]["poetry"]["group"]["dev"]["dependencies"] == {"honcho": ">=2"}


# --------------------------------------------------------------------------- what is declared

PEP_621 = """
[project]
name = "shop"
dependencies = [
    "django (>=5.0)",
    'Psycopg[binary]>=3',
]

[dependency-groups]
dev = ["gunicorn"]
"""
POETRY_1 = """
[tool.poetry.dependencies]
python = "^3.12"
Django = "^5"

[tool.poetry.group.dev.dependencies]
gunicorn = "*"
"""


@pytest.mark.parametrize("text,names", [(PEP_621, {"django", "psycopg"}),
                                        (POETRY_1, {"django"})], ids=["pep-621", "poetry-1"])
def test_only_production_dependencies_count_as_declared(text, names):
    assert python_packages.declared("pyproject.toml", text) == names
    # Without tomllib (Python 3.10), the line reader finds the same names.
    fallback = python_packages._project_dependencies(text) | \
        python_packages._table_keys(text, "tool.poetry.dependencies") - {"python"}
    assert fallback == names


def test_the_apps_own_pins_win_and_only_missing_packages_are_added():
    work = python_packages.lock_work(UV, LAYER, PEP_621, None, lock_only=True)
    assert work == "uv add --no-sync 'gunicorn>=22'"
    assert python_packages.lock_work(UV, LAYER, PEP_621, None, lock_only=False) == \
        "uv add 'gunicorn>=22'"


def test_a_project_that_declares_everything_needs_only_a_lock():
    declared = PEP_621.replace("'Psycopg[binary]>=3',", "'Psycopg[binary]>=3', 'gunicorn',")
    assert python_packages.lock_work(POETRY, LAYER, declared, None, lock_only=True) == \
        "poetry lock"
    lock = "".join(f'[[package]]\nname = "{n}"\n' for n in ("django", "gunicorn", "psycopg"))
    assert python_packages.lock_work(POETRY, LAYER, declared, lock, lock_only=True) == ""


def test_no_project_file_means_nothing_to_add_to():
    assert python_packages.lock_work(UV, LAYER, None, None, lock_only=True) == ""
    assert python_packages.lock_work(PACKAGE_MANAGERS["pip"], LAYER, "", None,
                                     lock_only=True) == ""


def test_the_copy_never_runs_pipenv_and_says_what_to_run_instead():
    pipfile = '[packages]\ndjango = "*"\n'
    pipenv = PACKAGE_MANAGERS["pipenv"]
    assert python_packages.lock_work(pipenv, LAYER, pipfile, None, lock_only=True) == ""
    assert python_packages.lock_work(pipenv, LAYER, pipfile, None, lock_only=False) == \
        "pipenv install 'gunicorn>=22' 'psycopg[binary]>=3.1'"


# --------------------------------------------------------------------------- the copy

STAND_IN_UV = """\
#!/usr/bin/env python3
# Records its arguments; `add` appends to pyproject.toml's dependencies, and `add` and
# `lock` write a uv.lock naming every declared package, as uv would.
import json, os, re, sys
with open(os.path.join(os.path.dirname(__file__), "calls"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
text = open("pyproject.toml").read()
if sys.argv[1] == "add":
    added = "".join(f'    "{r}",\\n' for r in sys.argv[2:] if not r.startswith("-"))
    text = re.sub(r"(dependencies = \\[\\n?)", lambda m: m.group(1) + added, text, count=1)
    open("pyproject.toml", "w").write(text)
names = re.findall(r'^\\s*"([A-Za-z0-9_.-]+)', text, re.M)
with open("uv.lock", "w") as lock:
    for name in names:
        lock.write(f'[[package]]\\nname = "{re.sub(r"[-_.]+", "-", name).lower()}"\\n\\n')
"""
UV_INIT_PYPROJECT = """\
[project]
name = "shop"
version = "0.1.0"
requires-python = ">=3.12"
dependencies = [
    "django>=5.1",
]
"""


@pytest.fixture
def stand_in_uv(tmp_path) -> Path:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "uv").write_text(STAND_IN_UV)
    (tools / "uv").chmod(0o755)
    return tools


def calls(tools: Path) -> list[list[str]]:
    log = tools / "calls"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def uv_app(tmp_path: Path) -> Path:
    app = tmp_path / "shop"
    app.mkdir()
    (app / "pyproject.toml").write_text(UV_INIT_PYPROJECT)
    (app / ".python-version").write_text("3.12\n")
    return app


def test_with_uv_on_path_the_copy_adds_the_missing_packages_with_uv(tmp_path, stand_in_uv):
    app = uv_app(tmp_path)
    generate(app, {"stack": "django", "python_module": "shop", "addons": ["newrelic"]},
             tools=stand_in_uv)
    [args] = calls(stand_in_uv)
    assert args[:2] == ["add", "--no-sync"]
    assert "newrelic>=9" in args and "gunicorn>=22" in args
    assert not any(a.lower().startswith("django") for a in args), "the app's own pin wins"
    assert "django>=5.1" in (app / "pyproject.toml").read_text()
    assert (app / "uv.lock").is_file() and not (app / "requirements.txt").exists()


def copy_without_a_terminal(dst: Path, *args: str, path: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD",
         *args, str(ROOT), str(dst)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TERM": "dumb",
             "PATH": path or path_without_package_managers(os.environ["PATH"])})


def test_without_uv_on_path_the_copy_prints_the_command_and_deploy_md_has_it(tmp_path):
    app = uv_app(tmp_path)
    done = copy_without_a_terminal(app, "--data", "stack=django", "--data",
                                   "python_module=shop")
    assert done.returncode == 0, done.stderr[-2000:]
    printed = done.stdout + done.stderr
    assert "uv.lock does not hold the deploy layer's packages yet; in the app's folder, " \
           "run: uv add 'dj-database-url>=2.1'" in printed
    assert "'Django" not in printed.split("run: ", 1)[1].splitlines()[0]
    assert "uv add 'Django>=4.2,<6' 'dj-database-url>=2.1'" in (app / "DEPLOY.md").read_text()
    assert not (app / "uv.lock").exists()


def test_a_second_package_manager_file_is_named_after_the_copy(tmp_path):
    app = uv_app(tmp_path)
    (app / "uv.lock").write_text("")
    (app / "requirements.txt").write_text("django\n")
    done = copy_without_a_terminal(app, "--data", "stack=django", "--data",
                                   "python_module=shop")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Heroku's Python buildpack refuses an app with more than one of uv.lock, " \
           "requirements.txt: this app uses uv" in done.stdout + done.stderr


def test_an_update_names_the_packages_the_layer_no_longer_needs_and_keeps_them(
        template_repo, tmp_path, stand_in_uv, capfd):
    app = uv_app(tmp_path)
    generate(app, {"stack": "django", "python_module": "shop", "addons": ["newrelic"]},
             src=template_repo, vcs_ref="v1.0.0", tools=stand_in_uv)
    git(app, "init", "-q")
    commit_all(app, "deploy layer")
    capfd.readouterr()

    with package_managers_on_path(stand_in_uv):
        run_update(str(app), data={"addons": []}, defaults=True, overwrite=True, unsafe=True,
                   quiet=True, answers_file=ANSWERS_FILE)

    out = capfd.readouterr().out
    assert "The deploy layer no longer needs newrelic; left in pyproject.toml in case the " \
           "app uses it. If it does not: uv remove newrelic" in out
    assert "newrelic>=9" in (app / "pyproject.toml").read_text()


def release_commit(version: str) -> str:
    """The commit that added a release's CHANGELOG heading: that release."""
    added = git(ROOT, "log", "--reverse", "--format=%H", f"-S## {version} (", "--",
                "CHANGELOG.md").stdout.split()
    if not added:
        pytest.skip(f"this clone has no history of {version}")
    return added[0]


def test_a_pip_app_from_v0_2_0_updates_on_pip_and_keeps_its_files(tmp_path):
    """v0.2.0 had no python_package_manager: an app made by it is found to be on pip (its
    requirements.txt), and keeps requirements.txt and requirements-deploy.txt."""
    template = tmp_path / "template"
    template.mkdir()
    archive = subprocess.run(["git", "archive", release_commit("v0.2.0")], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(template)], input=archive, check=True)
    git(template, "init", "-q")
    release(template, "v0.2.0")
    app = generate(tmp_path / "shop", {"stack": "django"}, src=template, vcs_ref="v0.2.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer v0.2.0")
    requirements = (app / "requirements.txt").read_text()
    for part in TEMPLATE_PARTS:
        target = template / part
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        source = ROOT / part
        (shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
         if source.is_dir() else shutil.copy2(source, target))
    release(template, "v0.3.0")

    # As its user would: v0.2.0 kept the answers in Copier's default file.
    run_update(str(app), defaults=True, overwrite=True, unsafe=True, quiet=True)

    recorded = yaml.safe_load((app / ANSWERS_FILE).read_text())
    assert recorded["python_package_manager"] == "pip"
    assert (app / "requirements.txt").read_text() == requirements
    assert (app / "requirements-deploy.txt").is_file()
    assert not (app / "pyproject.toml").exists()
    assert "<<<<<<<" not in (app / "requirements-deploy.txt").read_text()


# --------------------------------------------------------------------------- bin/heroku-deploy

@pytest.fixture
def deployable(tmp_path) -> tuple[Path, Heroku]:
    """A uv app in git, its Heroku remotes pushing into bare repositories, and the stateful
    heroku stand-in holding its two apps as bin/heroku-setup leaves them."""
    app = generate(tmp_path / "shop", {"stack": "flask"})
    git(app, "init", "-q", "-b", "main")
    commit_all(app, "deploy layer")
    bare = tmp_path / "heroku-git"
    for remote, name in (("staging", STAGING), ("production", PRODUCTION)):
        git(app, "remote", "add", remote, f"https://git.heroku.com/{name}.git")
        subprocess.run(["git", "init", "-q", "--bare", str(bare / f"{name}.git")], check=True)
    git(app, "config", f"url.{bare}/.pushInsteadOf", "https://git.heroku.com/")
    heroku = Heroku(app, tmp_path)
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"}},
                 PRODUCTION: {"config": {"APP_STAGE": "production"}}})
    return app, heroku


def deploy(deployable: tuple[Path, Heroku], *args: str) -> subprocess.CompletedProcess:
    return deployable[1].run("heroku-deploy", *args)


def pushed(deployable: tuple[Path, Heroku]) -> bool:
    remote = deployable[0].parent / "heroku-git" / f"{STAGING}.git"
    return bool(git(remote, "for-each-ref").stdout.strip())


def lock_with(deployable: tuple[Path, Heroku], names: list[str]) -> None:
    (deployable[0] / "uv.lock").write_text(
        "".join(f'[[package]]\nname = "{n}"\n\n' for n in names))


def test_deploy_refuses_a_commit_whose_lock_lacks_the_layers_packages(deployable):
    lock_with(deployable, ["flask"])
    commit_all(deployable[0], "a lock without gunicorn")
    done = deploy(deployable)
    assert done.returncode != 0
    assert "HEAD's uv.lock lacks pyyaml gunicorn psycopg newrelic, which the deploy layer " \
           "needs" in done.stderr
    assert not pushed(deployable)
    dry = deploy(deployable, "--dry-run")
    assert dry.returncode == 0 and "warning: HEAD's uv.lock lacks" in dry.stderr


def test_deploy_refuses_two_package_manager_files(deployable):
    plan = build_plan(yaml.safe_load((deployable[0] / ANSWERS_FILE).read_text()))
    lock_with(deployable, plan.lock_names)
    (deployable[0] / "requirements.txt").write_text("flask\n")
    commit_all(deployable[0], "two package managers")
    done = deploy(deployable)
    assert done.returncode != 0
    assert "refuses more than one package-manager file, and HEAD has uv.lock " \
           "requirements.txt" in done.stderr
    assert not pushed(deployable)


def test_deploy_pushes_once_the_lock_holds_the_layers_packages(deployable):
    plan = build_plan(yaml.safe_load((deployable[0] / ANSWERS_FILE).read_text()))
    lock_with(deployable, plan.lock_names)
    commit_all(deployable[0], "locked")
    done = deploy(deployable)
    assert done.returncode == 0, done.stderr
    assert pushed(deployable)


# --------------------------------------------------------------------------- bin/dev

@pytest.mark.parametrize("manager,words", [
    ("pip", "run 'python3 -m venv .venv && .venv/bin/pip install -r requirements.txt "
            "honcho', then bin/dev again."),
    ("uv", "bin/dev needs uv, which is not installed: see https://docs.astral.sh/uv/"),
    ("poetry", "bin/dev needs Poetry, which is not installed: see "),
])
def test_bin_dev_without_its_tools_says_the_one_command_to_run(tmp_path, manager, words):
    app = generate(tmp_path / "app", {"stack": "flask", "python_package_manager": manager})
    env = {**os.environ, "PATH": path_without_package_managers(os.environ["PATH"])}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bin/dev"], cwd=app, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 127
    assert words in done.stderr, done.stderr


def test_the_gunicorn_config_follows_herokus_advice(tmp_path):
    app = generate(tmp_path / "app", {"stack": "flask"})
    config: dict = {}
    saved = {name: os.environ.pop(name, None) for name in ("PORT", "GUNICORN_THREADS")}
    try:
        exec(compile((app / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
             config)  # our own generated file
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    assert config["bind"] == ["[::]:8000"]
    assert config["worker_class"] == "gthread" and config["threads"] >= 2
    assert config["keepalive"] > 90, "longer than the router's idle timeout"
    assert config["timeout"] < 30, "shorter than the router's request timeout"
    plan = build_plan(yaml.safe_load((app / ANSWERS_FILE).read_text()))
    assert "WEB_CONCURRENCY" not in plan.config_values("production"), \
        "the buildpack sets it from the dyno size"
    assert "WEB_CONCURRENCY" not in json.loads((app / "app.json").read_text())["env"]


@pytest.mark.parametrize("pyproject,paths,missing", [
    ('[project]\nname = "demo-shop"\n', set(), "demo-shop"),
    ('[project]\nname = "demo-shop"\n', {"demo_shop"}, ""),
    ('[project]\nname = "demo-shop"\n', {"src/demo_shop"}, ""),
    ('[project]\nname = "demo-shop"\n[tool.poetry]\npackage-mode = false\n', set(), ""),
    ('[project]\nname = "demo-shop"\n[tool.poetry]\npackages = [{include = "shop"}]\n',
     set(), ""),
], ids=["no-package", "package", "src-package", "package-mode-off", "packages-set"])
def test_poetry_in_package_mode_needs_a_package_of_the_projects_name(pyproject, paths,
                                                                     missing):
    assert python_packages.poetry_root_missing(pyproject, paths.__contains__) == missing


def test_the_copy_says_when_poetry_would_find_no_package_to_install(tmp_path):
    app = tmp_path / "shop"
    app.mkdir()
    (app / "pyproject.toml").write_text('[project]\nname = "demo-shop"\ndependencies = []\n'
                                        '[build-system]\nrequires = ["poetry-core>=2"]\n')
    done = copy_without_a_terminal(app, "--data", "stack=flask", "--data",
                                   "python_module=shop")
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'Poetry installs the project "demo-shop" itself and finds no package of that ' \
           "name" in done.stdout + done.stderr
