"""The ops scripts stay safe when things go wrong: every call N of a clean run of
bin/heroku-setup, -addons, -deploy, -config-pull and -mirror-db (both its paths) fails, returns garbage,
loses its reply, hangs, or brings a SIGINT, SIGTERM or SIGHUP, for a Rails app and a
Django app with a worker; after each, and after a plain re-run, the properties of
helpers/faults.explore hold: production is never written (setup and addons --confirm may
only add to it), staging never serves production's unsanitized rows, no secret is
replaced, the exit status tells the truth, and the re-run reaches the clean run's goal.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.faults import Scenario, explore, world_copy
from helpers.heroku_standin import PRODUCTION, STAGING, Heroku, add_addon
from helpers.template import committed, git

STACKS = {
    "rails-sidekiq": {"worker": "sidekiq"},
    # On pip, whose requirements files the copy writes: a uv app's lock would first need
    # `uv add`, which bin/heroku-deploy checks (tests/test_package_managers.py).
    "django-celery": {"stack": "django", "worker": "celery", "python_package_manager": "pip"},
}
EMPTY = {"apps": {}, "addons": {}, "pipelines": {}, "logged_in": True, "violations": [],
         "serial": 0}


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> dict[str, Path]:
    """Each stack's app, generated once, in a git repository with one commit."""
    return {name: committed(tmp_path_factory.mktemp(name) / "demo-shop", answers)
            for name, answers in STACKS.items()}


@pytest.fixture(scope="module")
def worlds(apps, manifest, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Per stack, the world after a clean bin/heroku-setup, both apps deployed with their
    worker running and production's database holding its rows."""
    built = {}
    for name, app in apps.items():
        tmp = tmp_path_factory.mktemp(f"{name}-setup")
        copy = tmp / "demo-shop"
        shutil.copytree(app, copy, symlinks=True)
        heroku = Heroku(copy, tmp)
        heroku.save(world_copy(EMPTY))
        result = heroku.run("heroku-setup")
        assert result.returncode == 0, result.stderr
        world = heroku.world()
        world["apps"][STAGING]["formation"] = {"web": 1, "worker": 2}
        world["apps"][PRODUCTION]["formation"] = {"web": 2, "worker": 3}
        built[name] = world
    return built


def without_addons(world: dict) -> dict:
    """Both apps set up, but none of their add-ons created yet."""
    world = world_copy(world)
    names = list(world["addons"])
    for app in world["apps"].values():
        app["config"] = {k: v for k, v in app["config"].items()
                         if not any(name in v for name in names)}
        app["schedules"] = []
    world["addons"] = {}
    return world


def remotes(app: Path, sandbox: Path) -> None:
    """The remotes bin/heroku-setup adds; pushes to them land in bare repositories."""
    bare = sandbox / "heroku-git"
    for remote, name in (("staging", STAGING), ("production", PRODUCTION)):
        git(app, "remote", "add", remote, f"https://git.heroku.com/{name}.git")
        repo = bare / f"{name}.git"
        if repo.exists():
            shutil.rmtree(repo)
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    git(app, "config", f"url.{bare}/.pushInsteadOf", "https://git.heroku.com/")
    git(app, "config", "heroku.remote", "staging")


def pushed(app: Path, sandbox: Path) -> str:
    result = subprocess.run(["git", "--git-dir", str(sandbox / "heroku-git" / f"{STAGING}.git"),
                             "rev-parse", "--verify", "-q", "main"], capture_output=True,
                            text=True, check=False)
    return result.stdout.strip()


def git_side(app: Path, sandbox: Path) -> dict[str, str]:
    def get(key: str) -> str:
        return git(app, "config", "--get", key, check=False).stdout.strip()
    return {key: get(key) for key in ("remote.staging.url", "remote.production.url",
                                      "heroku.remote")}


def fresh_env(app: Path, sandbox: Path) -> None:
    """A developer's own .env, which bin/heroku-config-pull --force replaces."""
    for old in app.glob(".env*"):
        old.unlink()
    (app / ".env").write_text("MINE=1\n")


def pulled_env(app: Path, sandbox: Path) -> list[str]:
    return sorted((app / ".env").read_text().splitlines()[1:])


def scenarios(world: dict) -> dict[str, Scenario]:
    bare = without_addons(world)
    return {
        "setup": Scenario("setup", "heroku-setup", (), world_copy(EMPTY),
                          production_may_grow=True, outside=git_side),
        "addons": Scenario("addons", "heroku-addons", (), bare),
        "addons-production": Scenario(
            "addons-production", "heroku-addons", ("--app", PRODUCTION, "--confirm",
                                                   PRODUCTION), bare,
            production_may_grow=True),
        "deploy": Scenario("deploy", "heroku-deploy", (), world_copy(world), reset=remotes,
                           outside=pushed),
        "deploy-production": Scenario("deploy-production", "heroku-deploy",
                                      ("production", "--confirm", PRODUCTION),
                                      world_copy(world), reset=remotes),
        "config-pull": Scenario("config-pull", "heroku-config-pull", ("--force",),
                                world_copy(world), reset=fresh_env, outside=pulled_env),
        "mirror-db": Scenario("mirror-db", "heroku-mirror-db", ("--confirm", STAGING),
                              world_copy(world)),
        "mirror-db-in-place": Scenario("mirror-db-in-place", "heroku-mirror-db",
                                       ("--confirm", STAGING, "--in-place"),
                                       world_copy(world)),
    }


# Calls at which a hang is tried as well (each costs the 2-second time limit).
HANGS = {
    "setup": (r"^apps:info --json -a demo-shop-staging", r"^addons:create heroku-redis",
              r"^<api> PATCH /apps/demo-shop/"),
    "addons": (r"^addons --json", r"^addons:create"),
    "addons-production": (r"^pg:backups:schedule ",),
    "deploy": (r"^config --shell -a demo-shop$",),
    "deploy-production": (r"^pipelines:promote",),
    "config-pull": (r"^addons --json",),
    "mirror-db": (r"^pg:backups:restore", r"^pg:promote"),
    "mirror-db-in-place": (r"^maintenance:on", r"^run"),
}


@pytest.mark.parametrize("scenario", list(HANGS))
@pytest.mark.parametrize("stack", STACKS)
def test_every_fault_at_every_call_keeps_production_and_staging_safe(
        apps, worlds, manifest, tmp_path, stack, scenario):
    chosen = scenarios(worlds[stack])[scenario]
    # The Rails app gets every kind of fault; the Django app, whose scripts differ only
    # in the catalog's values, a failure and a signal at each call.
    rails = stack == "rails-sidekiq"
    report = explore(chosen, apps[stack], tmp_path, manifest,
                     hang_at=HANGS[scenario] if rails else (),
                     kinds=None if rails else ("fail", "signal"))
    print(f"{stack} {scenario}: {report.calls} calls, {report.runs} faulted runs "
          f"{report.kinds}, {report.reruns} re-runs")
    assert report.problems == [], "\n\n".join(report.problems[:8])
    assert report.calls >= 5
    # Every call of the clean run was tried with a failure and with a signal.
    assert report.kinds["fail"] == report.calls
    assert sum(report.kinds.get(s, 0) for s in ("INT", "TERM", "HUP")) == report.calls


def test_the_stand_in_records_staging_serving_unsanitized_rows(apps, worlds, tmp_path,
                                                               manifest):
    """The harness's own check: restoring production into staging's served database, as
    the old mirror did before the sanitize, is caught."""
    world = world_copy(worlds["rails-sidekiq"])
    heroku = Heroku(apps["rails-sidekiq"], tmp_path)
    heroku.save(world)
    restore = f"pg:backups:restore {PRODUCTION}:: DATABASE_URL -a {STAGING} --confirm {STAGING}"
    for line in (f"pg:backups:capture -a {PRODUCTION}", restore):
        subprocess.run([heroku.command, *line.split()], env=heroku.env, check=True,
                       capture_output=True)
    database = next(n for n, a in world["addons"].items()
                    if a["app"] == STAGING and a["service"] == "heroku-postgresql")
    assert heroku.world()["violations"] == [
        f"{STAGING} serves {PRODUCTION}'s unsanitized rows from {database} after "
        + f"`heroku {restore}`"]


def test_a_second_database_on_staging_is_never_served_before_it_is_sanitized(
        apps, worlds, tmp_path):
    """The stand-in's rule also covers a promote of unsanitized rows."""
    world = world_copy(worlds["rails-sidekiq"])
    add_addon(world, STAGING, "heroku-postgresql", data={"holds": PRODUCTION})
    world["addons"][list(world["addons"])[-1]]["attachments"] = [
        {"app": STAGING, "name": "MIRROR_NEXT"}]
    heroku = Heroku(apps["rails-sidekiq"], tmp_path)
    heroku.save(world)
    subprocess.run([heroku.command, "pg:promote", "MIRROR_NEXT", "-a", STAGING], env=heroku.env,
                   check=True, capture_output=True)
    assert len(heroku.world()["violations"]) == 1
