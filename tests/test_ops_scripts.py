"""The bin/heroku-* scripts: linted and checked against the real Heroku CLI over the answer
matrix, and run against the recording stand-in (tests/fakes/heroku) for what a user sees.

The matrix is read from copier.yml: a few hand-picked combinations, plus one more for any
choice none of them uses, so a fork's new choice is covered without editing this file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from copier_heroku import build_plan
from helpers.heroku_standin import (
    PRODUCTION,
    READ_ONLY,
    SCRIPTS,
    STAGING,
    Heroku,
    cli_errors,
    printed_heroku_lines,
    reads_only,
    services,
    serving_database,
)
from helpers.questions import answer_combinations, choice_values, copier_questions, render
from helpers.template import committed, generate, git
from helpers.tools import missing, require_tool

HAND_PICKED: dict[str, dict[str, Any]] = {
    "defaults": {},
    "everything-eu-team": {
        "heroku_region": "eu", "heroku_team": "acme-corp", "web_server": "unicorn",
        "dev_server": "thin", "backup_schedule": "03:00 Europe/Paris",
        "pipeline": True, "review_apps": True,
    },
    "bare": {"addons": [], "pipeline": False},
    "postgres-without-backups": {"addons": ["heroku-postgresql"], "backup_schedule": ""},
}


def answer_matrix() -> dict[str, dict[str, Any]]:
    """The hand-picked combinations, plus, for each choice none of them holds, the allowed
    combination (helpers.questions) that holds it and differs least from the defaults."""
    questions = copier_questions()
    combos = {name: dict(data) for name, data in HAND_PICKED.items()}
    combos["everything-eu-team"]["addons"] = choice_values("addons", {"stack": "rails"})

    def answer(combo: dict[str, Any], question: str) -> Any:
        if question in combo:
            return combo[question]
        default = questions[question].get("default")
        if isinstance(default, str) and "{" in default:
            return render(default, {**{q: s.get("default") for q, s in questions.items()
                                       if "{" not in str(s.get("default"))}, **combo}).strip()
        return default

    def holds(combo: dict[str, Any], question: str, value: Any) -> bool:
        got = answer(combo, question)
        return value in (got or []) if questions[question].get("multiselect") else got == value

    def distance(combo: dict[str, Any]) -> int:
        return sum(not holds({}, q, v) if not isinstance(v, list) else
                   len(set(v) ^ set(answer({}, q) or [])) for q, v in combo.items())

    allowed = sorted(answer_combinations(), key=distance)
    for candidate in allowed:
        for question, value in candidate.items():
            if "choices" not in questions[question]:
                continue
            for single in value if isinstance(value, list) else [value]:
                if not any(holds(c, question, single) for c in combos.values()):
                    combos[f"{question}-{single}"] = next(
                        c for c in allowed if holds(c, question, single))
    return combos


MATRIX = answer_matrix()


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict[str, Path]:
    """One generated app per combination, each in a git repository with one commit."""
    return {name: committed(tmp_path_factory.mktemp(name) / "demo-shop", data)
            for name, data in MATRIX.items()}


@pytest.fixture
def app(generated, tmp_path) -> Path:
    """A private copy of the default app, for tests that change it."""
    target = tmp_path / "demo-shop"
    shutil.copytree(generated["defaults"], target, symlinks=True)
    return target


@pytest.fixture
def heroku(app, tmp_path, manifest) -> Heroku:
    return Heroku(app, tmp_path)


def writes(manifest, calls: list[list[str]]) -> list[list[str]]:
    """The calls that change something."""
    return [argv for argv in calls if not reads_only(manifest, argv)]


def set_up(heroku: Heroku) -> None:
    """Both apps as bin/heroku-setup leaves them, production's database holding its rows."""
    result = heroku.run("heroku-setup")
    assert result.returncode == 0, result.stderr
    heroku.forget_calls()


def dry_runs(app: Path) -> list[tuple[str, ...]]:
    """Every way of calling the app's scripts that prints heroku commands."""
    runs = [("heroku-setup", "--dry-run"),
            ("heroku-addons", "--dry-run"),
            ("heroku-addons", "--app", PRODUCTION, "--confirm", PRODUCTION, "--dry-run"),
            ("heroku-config-pull", "--force", "--dry-run"),
            ("heroku-config-pull", "--app", PRODUCTION, "--confirm", PRODUCTION, "--force",
             "--dry-run"),
            ("heroku-deploy", "--dry-run"),
            ("heroku-deploy", "production", "--confirm", PRODUCTION, "--dry-run")]
    if (app / "bin" / "heroku-mirror-db").exists():
        runs.append(("heroku-mirror-db", "--confirm", STAGING, "--dry-run"))
        runs.append(("heroku-mirror-db", "--confirm", STAGING, "--in-place", "--dry-run"))
    return runs


# The file every script sources; not executable, not run on its own.
SHARED_HELPER = "bin/lib/heroku.bash"

# --------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("combo", MATRIX)
def test_scripts_pass_bash_n_and_shellcheck(generated, combo):
    require_tool("shellcheck")
    app = generated[combo]
    files = [f"bin/{s}" for s in SCRIPTS if (app / "bin" / s).exists()] + [SHARED_HELPER]
    for path in files:
        result = subprocess.run(["bash", "-n", path], cwd=app, capture_output=True, text=True)
        assert result.returncode == 0, f"{combo} {path}: {result.stderr}"
        if path != SHARED_HELPER:
            mode = (app / path).stat().st_mode
            assert mode & stat.S_IXUSR, f"{combo}: {path} is not executable"
    for follow in (["-x"], []):
        result = subprocess.run(["shellcheck", "--severity=style", *follow, *files], cwd=app,
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{combo} shellcheck {follow}:\n{result.stdout}"


@pytest.mark.parametrize("combo", MATRIX)
def test_every_command_the_scripts_print_passes_the_heroku_manifest(generated, manifest,
                                                                    combo, tmp_path):
    app = generated[combo]
    heroku = Heroku(app, tmp_path)
    lines = []
    for script, *args in dry_runs(app):
        result = heroku.run(script, *args)
        assert result.returncode == 0, f"{combo} {script} {args}: {result.stderr}"
        lines += [(script, argv) for argv in printed_heroku_lines(result.stdout)]
    assert heroku.calls() == [], "--dry-run must run no heroku command"
    assert lines
    errors = [f"{script}: heroku {shlex.join(argv)}: {manifest.error(argv)}"
              for script, argv in lines if manifest.error(argv)]
    assert errors == []


@pytest.mark.parametrize("combo", MATRIX)
def test_setup_against_the_stand_in_then_again_changes_nothing(generated, manifest, combo,
                                                               tmp_path):
    app = tmp_path / "demo-shop"
    shutil.copytree(generated[combo], app, symlinks=True)
    heroku = Heroku(app, tmp_path)
    first = heroku.run("heroku-setup")
    assert first.returncode == 0, first.stderr
    logged = heroku.calls()
    heroku.forget_calls()
    second = heroku.run("heroku-setup")
    assert second.returncode == 0, second.stderr
    again = heroku.calls()
    assert cli_errors(manifest, logged + again) == []
    assert [argv for argv in again if not reads_only(manifest, argv)] == []
    assert "Nothing to change." in second.stdout
    world = heroku.world()
    answers = {**{q: s.get("default") for q, s in copier_questions().items()},
               **MATRIX[combo]}
    for name in (STAGING, PRODUCTION):
        assert world["apps"][name]["region"] == answers["heroku_region"]
        assert world["apps"][name]["team"] == (answers["heroku_team"] or None)
        # The chosen add-ons, and those another answer implies (the worker's queue).
        assert services(world, name) == sorted(a.key for a in build_plan(answers).addons)
        assert set(answers["addons"]) <= set(services(world, name))
    assert world["apps"][STAGING]["config"]["APP_STAGE"] == "staging"
    assert world["apps"][PRODUCTION]["config"]["APP_STAGE"] == "production"
    assert bool(world["pipelines"]) == answers["pipeline"]
    if answers["pipeline"]:
        assert world["pipelines"]["demo-shop"]["apps"] == {STAGING: "staging",
                                                           PRODUCTION: "production"}
        assert world["pipelines"]["demo-shop"]["review_apps"] == answers["review_apps"]
    backups = "heroku-postgresql" in answers["addons"] and answers.get("backup_schedule")
    assert bool(world["apps"][PRODUCTION]["schedules"]) == bool(backups)
    assert world["apps"][STAGING]["schedules"] == []


# --------------------------------------------------------------------------- behaviour


def test_setup_dry_run_prints_what_a_careful_person_would_type(heroku):
    result = heroku.run("heroku-setup", "--dry-run", env={"HEROKU_HOST": ""})
    assert result.returncode == 0, result.stderr
    steps = [" ".join(argv) for argv in printed_heroku_lines(result.stdout)
             if argv[0] not in READ_ONLY]
    assert steps[:4] == [
        f"apps:create {STAGING} --region us --no-remote",
        f"apps:create {PRODUCTION} --region us --no-remote",
        f"git:remote -a {STAGING} -r staging",
        f"git:remote -a {PRODUCTION} -r production",
    ]
    assert "+ git config heroku.remote staging" in result.stdout
    assert steps[4].startswith("config:set APP_STAGE=staging ")
    assert steps[5].startswith("config:set APP_STAGE=production ")
    assert "SECRET" not in steps[4] + steps[5]
    # Secrets go through the Platform API, never on a command line; the sanitize salt is
    # staging's alone: production never runs the task.
    assert [line for line in result.stdout.splitlines() if line.startswith("+ curl")] == [
        f"+ curl -X PATCH https://api.heroku.com/apps/{STAGING}/config-vars "
        f"'SECRET_KEY_BASE=<secret>' 'SANITIZE_SALT=<secret>'",
        f"+ curl -X PATCH https://api.heroku.com/apps/{PRODUCTION}/config-vars "
        f"'SECRET_KEY_BASE=<secret>'"]
    assert steps[6:8] == [f"pipelines:create demo-shop -a {STAGING} --stage staging",
                          f"pipelines:add demo-shop -a {PRODUCTION} --stage production"]
    assert steps[-1] == f"pg:backups:schedule DATABASE_URL --at 02:00 UTC -a {PRODUCTION}"
    # The schedule is one argument, quoted the way a person would type it.
    assert f"--at '02:00 UTC' -a {PRODUCTION}" in result.stdout
    assert heroku.calls() == []


def test_staging_is_the_default_remote(heroku, app):
    result = heroku.run("heroku-setup")
    assert result.returncode == 0, result.stderr
    assert git(app, "config", "heroku.remote").stdout.strip() == "staging"
    assert git(app, "remote", "get-url", "staging").stdout.strip() == \
        f"https://git.heroku.com/{STAGING}.git"
    assert git(app, "remote", "get-url", "production").stdout.strip() == \
        f"https://git.heroku.com/{PRODUCTION}.git"
    assert "heroku" not in git(app, "remote").stdout.split()


def test_setup_twice_creates_nothing_the_second_time(heroku):
    assert heroku.run("heroku-setup").returncode == 0
    before = heroku.world()
    heroku.forget_calls()
    second = heroku.run("heroku-setup")
    assert second.returncode == 0, second.stderr
    assert heroku.world() == before
    assert {argv[0] for argv in heroku.calls()} <= READ_ONLY
    assert "Nothing to change." in second.stdout
    assert "SECRET_KEY_BASE already set (not shown, not replaced)" in second.stdout


def test_setup_adopts_existing_apps_and_keeps_their_values(heroku):
    heroku.seed({STAGING: {"config": {"WEB_CONCURRENCY": "4", "SECRET_KEY_BASE": "kept"},
                           "region": "eu"},
                 PRODUCTION: {"config": {"APP_STAGE": "production"}}})
    result = heroku.run("heroku-setup")
    assert result.returncode == 0, result.stderr
    world = heroku.world()
    assert "apps:create" not in {argv[0] for argv in heroku.calls()}
    assert world["apps"][STAGING]["config"]["WEB_CONCURRENCY"] == "4"
    assert world["apps"][STAGING]["config"]["SECRET_KEY_BASE"] == "kept"
    assert "WEB_CONCURRENCY is 4, the template says 2; left as it is" in result.stderr
    assert f"{STAGING} runs in region eu, not us" in result.stderr
    # Only what was missing is set.
    assert world["apps"][STAGING]["config"]["APP_STAGE"] == "staging"
    assert world["apps"][PRODUCTION]["config"]["APP_STAGE"] == "production"


def test_setup_changes_an_existing_app_stage_only_with_confirm(heroku):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"}},
                 PRODUCTION: {"config": {"APP_STAGE": "review"}}})
    before = heroku.world()
    refused = heroku.run("heroku-setup")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"bin/heroku-setup: {PRODUCTION} is this project's production app, but its APP_STAGE "
        f"is review: refusing to change it, so nothing was changed (check the app names in "
        f".copier-answers.heroku.yml, or run again with --confirm {PRODUCTION} to make it "
        f"production)."]
    assert heroku.world() == before
    confirmed = heroku.run("heroku-setup", "--confirm", PRODUCTION)
    assert confirmed.returncode == 0, confirmed.stderr
    assert heroku.world()["apps"][PRODUCTION]["config"]["APP_STAGE"] == "production"


def test_swapped_app_names_are_refused_and_change_nothing(heroku, manifest):
    """The real production app given as staging_app, and the other way round."""
    heroku.seed({STAGING: {"config": {"APP_STAGE": "production", "SECRET_KEY_BASE": "live"}},
                 PRODUCTION: {"config": {"APP_STAGE": "staging"}}})
    before = heroku.world()
    for args in (("heroku-setup",), ("heroku-setup", "--confirm", STAGING),
                 ("heroku-mirror-db", "--confirm", STAGING), ("heroku-addons",),
                 ("heroku-deploy",), ("heroku-config-pull", "--force")):
        result = heroku.run(*args)
        assert result.returncode == 1, args
        assert result.stderr.strip().splitlines() == [
            f"bin/{args[0]}: {STAGING} is this project's staging app, but its APP_STAGE is "
            f"production: refusing to treat it as staging, so nothing was changed (check "
            f"staging_app and production_app in .copier-answers.heroku.yml)."], args
        assert writes(manifest, heroku.calls()) == [], args
    assert heroku.world() == before


def test_a_staging_app_in_the_pipeline_as_production_is_refused(heroku):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"}},
                 PRODUCTION: {"config": {"APP_STAGE": "production"}}},
                pipelines={"demo-shop": {"apps": {STAGING: "production"},
                                         "review_apps": False, "team": None}})
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 1
    assert "but it is in a pipeline as production: refusing to treat it as staging" in (
        result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_failed_read_on_a_rerun_is_refused_and_changes_nothing(heroku, manifest):
    """A re-run whose config read fails must not take the secrets for missing."""
    set_up(heroku)
    before = heroku.world()
    result = heroku.run("heroku-setup", fault=f"/^config --shell -a {STAGING}$/:fail")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bin/heroku-setup: could not read the config vars of {STAGING} ('heroku config "
        f"--shell -a {STAGING}': stand-in: call 3 (config) failed as the test asked), so it "
        f"stopped before changing anything more; nothing was changed."]
    assert heroku.world() == before
    assert writes(manifest, heroku.calls()) == []


@pytest.mark.parametrize("read", ["addons --json", "apps:info --json", "config --shell",
                                  "pipelines:info"])
def test_a_read_that_prints_something_unexpected_stops_before_any_write(heroku, manifest,
                                                                       read):
    set_up(heroku)
    before = heroku.world()
    result = heroku.run("heroku-setup", fault=f"/{read}/:garbage")
    assert result.returncode == 1
    assert "printed something unexpected" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert heroku.world() == before
    assert writes(manifest, heroku.calls()) == []


def test_setup_refuses_to_rotate_a_secret_held_under_an_older_name(heroku):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging", "SECRET_TOKEN": "old"}},
                 PRODUCTION: {"config": {"APP_STAGE": "production"}}})
    before = heroku.world()
    refused = heroku.run("heroku-setup")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"bin/heroku-setup: {STAGING} holds SECRET_TOKEN but no SECRET_KEY_BASE: a new "
        f"SECRET_KEY_BASE would rotate its secret (sessions end, encrypted data becomes "
        f"unreadable), so nothing was changed; copy the value into SECRET_KEY_BASE yourself, "
        f"or run again with --confirm {STAGING} to generate a new one."]
    assert heroku.world() == before
    assert heroku.run("heroku-setup", "--confirm", STAGING).returncode == 0
    assert len(heroku.world()["apps"][STAGING]["config"]["SECRET_KEY_BASE"]) == 128


def test_secrets_differ_between_apps_and_never_appear_in_output(heroku):
    result = heroku.run("heroku-setup")
    assert result.returncode == 0, result.stderr
    config = {name: heroku.world()["apps"][name]["config"] for name in (STAGING, PRODUCTION)}
    secrets = [config[name]["SECRET_KEY_BASE"] for name in (STAGING, PRODUCTION)]
    secrets.append(config[STAGING]["SANITIZE_SALT"])
    assert all(re.fullmatch(r"[0-9a-f]{128}", s) for s in secrets)
    assert len(set(secrets)) == 3
    assert "SANITIZE_SALT" not in config[PRODUCTION]
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    assert "SECRET_KEY_BASE=<secret>" in result.stdout


def test_secrets_never_appear_on_a_command_line(heroku, tmp_path, manifest):
    """`heroku config:set NAME=value` shows the value to every user of the machine in
    `ps`: the secrets go through the Platform API, curl reading them from a private file.
    Every command line of the run is watched in /proc (curl made slow enough to be seen),
    and every heroku and curl command line is also logged, so none is missed."""
    real_curl = shutil.which("curl")
    if not real_curl:
        missing("`curl` is not installed")
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    curl_log = tmp_path / "curl-argv.jsonl"
    (wrappers / "curl").write_text(
        f"#!/usr/bin/env python3\nimport json, os, sys, time\n"
        f"open({str(curl_log)!r}, 'a').write(json.dumps(sys.argv) + '\\n')\n"
        f"time.sleep(0.3)\nos.execv({real_curl!r}, [{real_curl!r}, *sys.argv[1:]])\n")
    (wrappers / "curl").chmod(0o755)
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for proc in Path("/proc").iterdir():
                try:
                    seen.add((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
                except (OSError, UnicodeDecodeError):
                    pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = heroku.run("heroku-setup", env={
            "PATH": f"{wrappers}{os.pathsep}{heroku.env['PATH']}"})
    finally:
        stop.set()
        watcher.join()
    assert result.returncode == 0, result.stderr
    config = {name: heroku.world()["apps"][name]["config"] for name in (STAGING, PRODUCTION)}
    secrets = [config[STAGING]["SECRET_KEY_BASE"], config[STAGING]["SANITIZE_SALT"],
               config[PRODUCTION]["SECRET_KEY_BASE"]]
    curl_lines = [" ".join(json.loads(line)) for line in curl_log.read_text().splitlines()]
    # The watcher saw the two API requests being made, and no secret anywhere.
    assert len([line for line in seen if "config-vars" in line]) >= 2
    assert len(curl_lines) == 2
    heroku_lines = [" ".join(argv) for argv in heroku.calls()]
    for secret in secrets:
        assert not [line for line in [*seen, *curl_lines, *heroku_lines] if secret in line]
    assert ["<api>", "PATCH", f"/apps/{STAGING}/config-vars", "SANITIZE_SALT",
            "SECRET_KEY_BASE"] in heroku.calls()


@pytest.mark.parametrize("args", [
    ("heroku-addons", "--app", PRODUCTION),
    ("heroku-addons", "--app", PRODUCTION, "--confirm", STAGING),
    ("heroku-config-pull", "--app", PRODUCTION),
    ("heroku-deploy", "production"),
    ("heroku-deploy", "production", "--confirm", "demo"),
], ids=" ".join)
def test_production_without_confirm_refuses_and_runs_nothing(heroku, args):
    result = heroku.run(*args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bin/{args[0]}: {PRODUCTION} is production: add --confirm {PRODUCTION} to run "
        f"this against it."]
    assert heroku.calls() == []


def test_production_with_confirm_is_allowed(heroku):
    heroku.seed({STAGING: {}, PRODUCTION: {}})
    result = heroku.run("heroku-addons", "--app", PRODUCTION, "--confirm", PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert ["addons:create", "newrelic:wayne", "-a", PRODUCTION] in heroku.calls()


@pytest.mark.parametrize("script", ["heroku-addons", "heroku-config-pull", "heroku-mirror-db",
                                    "heroku-setup"])
def test_an_app_that_is_neither_staging_nor_production_is_refused(heroku, script):
    args = ("--confirm", "someone-elses-app") if script == "heroku-setup" else (
        "--app", "someone-elses-app", "--confirm", "someone-elses-app")
    result = heroku.run(script, *args)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown app 'someone-elses-app'" in result.stderr
    assert heroku.calls() == []


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args", [("--bogus",), ("--app",), ("staging", "production")])
def test_bad_flags_print_usage_and_exit_non_zero(heroku, script, args):
    result = heroku.run(script, *args)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Usage: bin/{script}")
    assert result.stderr.strip().splitlines()[-1].startswith(f"bin/{script}: ")
    assert heroku.calls() == []


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_shows_usage_and_runs_nothing(heroku, script):
    result = heroku.run(script, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"Usage: bin/{script}")
    assert "--dry-run" in result.stdout
    assert heroku.calls() == []


# What the scripts need besides bash builtins: the POSIX basics, git, and a CSPRNG.
TOOLS = ("bash", "git", "dirname", "grep", "env", "openssl", "od", "tr", "date", "mktemp",
         "chmod", "rm", "sed", "awk", "cut", "head", "tail", "cat", "cp", "mv")


def test_missing_heroku_cli_gives_one_clear_line(heroku, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    for script, *args in (("heroku-setup",), ("heroku-addons",),
                          ("heroku-config-pull", "--force"), ("heroku-deploy",)):
        result = heroku.run(script, *args, env={"PATH": str(tools)})
        assert result.returncode == 127, (script, result.stderr)
        assert result.stderr.strip().splitlines() == [
            f"bin/{script}: the Heroku CLI is not installed: install it "
            f"(https://devcenter.heroku.com/articles/heroku-cli), run 'heroku login', "
            f"then bin/{script} again."]


def test_logged_out_cli_gives_one_clear_line(heroku):
    heroku.state.write_text(json.dumps({"logged_in": False}))
    result = heroku.run("heroku-setup")
    assert result.returncode == 1
    assert result.stderr.strip() == ("bin/heroku-setup: the Heroku CLI is not logged in: "
                                     "run 'heroku login', then bin/heroku-setup again.")
    assert heroku.calls() == [["auth:whoami"]]


def test_a_hung_call_ends_as_a_failure_within_the_time_limit(heroku, manifest):
    set_up(heroku)
    before = heroku.world()
    result = heroku.run("heroku-setup", fault="/addons --json/:hang",
                        env={"HEROKU_CALL_TIMEOUT": "2"}, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bin/heroku-setup: could not read the add-ons of {STAGING} ('heroku addons --json "
        f"-a {STAGING}': no answer within 2s), so it stopped before changing anything more; "
        f"nothing was changed."]
    assert heroku.world() == before


@pytest.mark.parametrize("signal_name,status", [("INT", 130), ("TERM", 143), ("HUP", 129)])
def test_a_signal_ends_a_script_non_zero_naming_the_step(heroku, signal_name, status):
    result = heroku.run("heroku-setup", fault=f"/apps:create {PRODUCTION} /:{signal_name}")
    assert result.returncode == status
    assert result.stderr.strip().splitlines()[-1] == (
        f"bin/heroku-setup: stopped by SIG{signal_name} while creating {PRODUCTION}; it had "
        f"changed: {STAGING}: created; run bin/heroku-setup again to finish (it only does "
        f"what is left).")
    again = heroku.run("heroku-setup")
    assert again.returncode == 0, again.stderr


def test_config_pull_refuses_an_env_that_git_would_commit(heroku, app):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"}}})
    (app / ".gitignore").write_text("/log/*\n")
    (app / ".env").unlink(missing_ok=True)
    result = heroku.run("heroku-config-pull")
    assert result.returncode == 1
    assert "bin/heroku-config-pull: .env is not ignored by git" in result.stderr
    assert not (app / ".env").exists()
    assert heroku.calls() == []


def test_config_pull_writes_a_private_env_and_keeps_a_backup_with_force(heroku, app,
                                                                        manifest):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging", "NOTE": "it's \"quoted\"",
                                      "RAILS_ENV": "production",
                                      "DATABASE_URL": "postgres://u:p@staging-db/d"}},
                 PRODUCTION: {"config": {"APP_STAGE": "production"}}})
    (app / ".env").write_text("MINE=1\n")
    refused = heroku.run("heroku-config-pull")
    assert refused.returncode == 1
    assert ".env exists: run again with --force" in refused.stderr
    assert (app / ".env").read_text() == "MINE=1\n"

    forced = heroku.run("heroku-config-pull", "--force")
    assert forced.returncode == 0, forced.stderr
    env = app / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    # bin/dev must not run as staging: its stage, environment and database stay out.
    assert sorted(env.read_text().splitlines()[1:]) == [
        "# DATABASE_URL='postgres://u:p@staging-db/d'", "# RAILS_ENV=production",
        "APP_STAGE=development", "NOTE=\"it's \\\"quoted\\\"\""]
    backups = list(app.glob(".env.backup-*"))
    assert len(backups) == 1 and backups[0].read_text() == "MINE=1\n"
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert git(app, "status", "--porcelain").stdout == ""
    assert writes(manifest, heroku.calls()) == []


def test_config_pull_comments_out_every_addon_url_and_credential(heroku, app):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging", "MY_OWN_URL": "https://x",
                                      "HEROKU_POSTGRESQL_RED_URL": "postgres://red"},
                           "addons": ["heroku-postgresql", "heroku-redis", "newrelic"]},
                 PRODUCTION: {"config": {"APP_STAGE": "production"}}})
    result = heroku.run("heroku-config-pull", "--force")
    assert result.returncode == 0, result.stderr
    lines = (app / ".env").read_text().splitlines()
    live = {line.split("=", 1)[0] for line in lines if not line.startswith("#")}
    assert live == {"APP_STAGE", "MY_OWN_URL"}
    for name in ("DATABASE_URL", "REDIS_URL", "NEW_RELIC_LICENSE_KEY",
                 "HEROKU_POSTGRESQL_RED_URL"):
        assert any(line.startswith(f"# {name}=") for line in lines), name
    kept = heroku.run("heroku-config-pull", "--force", "--keep-urls")
    assert kept.returncode == 0, kept.stderr
    live = {line.split("=", 1)[0] for line in (app / ".env").read_text().splitlines()
            if not line.startswith("#")}
    assert {"REDIS_URL", "HEROKU_POSTGRESQL_RED_URL", "MY_OWN_URL"} <= live
    # The catalog keeps these out of development always.
    assert not {"DATABASE_URL", "NEW_RELIC_LICENSE_KEY"} & live


def test_deploy_pushes_to_staging_by_default(heroku):
    result = heroku.run("heroku-deploy", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ git push staging HEAD:main" in result.stdout


def test_deploy_to_production_promotes_staging_through_the_pipeline(heroku, manifest):
    set_up(heroku)
    result = heroku.run("heroku-deploy", "production", "--confirm", PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert writes(manifest, heroku.calls()) == [
        ["pipelines:promote", "-a", STAGING, "--to", PRODUCTION]]
    assert heroku.world()["apps"][STAGING]["promotions"] == [PRODUCTION]


@pytest.mark.parametrize("url,saw", [
    (f"https://git.heroku.com/{PRODUCTION}.git", f"{PRODUCTION}, the production app"),
    ("git@github.com:acme/demo-shop.git", "a URL that is not a Heroku git URL"),
    ("https://git.heroku.com/someone-else.git", "someone-else, not an app of this project"),
])
def test_deploy_refuses_a_staging_remote_that_points_elsewhere(heroku, app, url, saw):
    set_up(heroku)
    git(app, "remote", "set-url", "staging", url)
    result = heroku.run("heroku-deploy")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bin/heroku-deploy: the git remote staging points at {saw}, not at {STAGING}: "
        f"refusing to push, so nothing was changed (run bin/heroku-setup to set it, or git "
        f"remote set-url staging https://git.heroku.com/{STAGING}.git)."]


def test_deploy_pushes_to_the_staging_remote_when_it_names_staging(heroku, app, tmp_path):
    set_up(heroku)
    remote = tmp_path / "heroku-git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote / f"{STAGING}.git")],
                   check=True)
    git(app, "config", f"url.{remote}/.pushInsteadOf", "https://git.heroku.com/")
    result = heroku.run("heroku-deploy")
    assert result.returncode == 0, result.stderr
    head = git(app, "rev-parse", "HEAD").stdout.strip()
    pushed = subprocess.run(["git", "--git-dir", str(remote / f"{STAGING}.git"), "rev-parse",
                             "main"], capture_output=True, text=True).stdout.strip()
    assert pushed == head


@pytest.mark.parametrize("args", [
    ("--app", PRODUCTION, "--confirm", PRODUCTION),
    ("--app", "production", "--confirm", STAGING),
], ids=["confirmed", "confirming-staging"])
def test_mirror_db_refuses_production_as_the_target(heroku, args):
    result = heroku.run("heroku-mirror-db", *args)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"bin/heroku-mirror-db: refusing to overwrite production ({PRODUCTION}): the "
        f"mirror only ever writes to staging ({STAGING}).")
    assert heroku.calls() == []


def test_mirror_db_needs_the_staging_app_confirmed(heroku):
    result = heroku.run("heroku-mirror-db")
    assert result.returncode == 1
    assert f"add --confirm {STAGING} to go ahead" in result.stderr
    assert heroku.calls() == []


def test_mirror_db_dry_run_prints_the_whole_sequence(heroku, manifest):
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING, "--dry-run")
    assert result.returncode == 0, result.stderr
    steps = [argv for argv in printed_heroku_lines(result.stdout)
             if not reads_only(manifest, argv)]
    assert [argv[0] for argv in steps] == [
        "pg:backups:capture", "addons:create", "pg:backups:restore", "run", "run",
        "addons:attach", "pg:promote", "addons:detach", "addons:destroy"]
    assert result.stdout.strip().splitlines()[-1] == (
        "Dry run: nothing was run. Without --dry-run, bin/heroku-mirror-db runs the "
        "commands above.")
    assert heroku.calls() == []


def mirror_world(heroku: Heroku, **production) -> None:
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"}},
                 PRODUCTION: {"config": {"APP_STAGE": "production"},
                              "database": {"holds": PRODUCTION, **production}}})


def test_mirror_db_promotes_a_sanitized_second_database_then_drops_the_old_one(heroku,
                                                                              manifest):
    mirror_world(heroku)
    old = serving_database(heroku.world(), STAGING)["name"]
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 0, result.stderr
    world = heroku.world()
    mirror = serving_database(world, STAGING)
    assert writes(manifest, heroku.calls()) == [
        ["pg:backups:capture", "DATABASE_URL", "-a", PRODUCTION],
        ["addons:create", "heroku-postgresql:essential-0", "--as", "MIRROR_NEXT", "-a",
         STAGING, "--wait"],
        ["pg:backups:restore", f"{PRODUCTION}::b101", "MIRROR_NEXT", "-a", STAGING,
         "--confirm", STAGING],
        ["run", "--exit-code", "-a", STAGING, "--",
         "env DATABASE_URL=$MIRROR_NEXT_URL bin/rails db:migrate"],
        ["run", "--exit-code", "-a", STAGING, "--",
         "env SANITIZE_MODE=offline SANITIZE_DATABASE_URL=$MIRROR_NEXT_URL "
         "DATABASE_URL=$MIRROR_NEXT_URL bin/rails db:sanitize"],
        ["addons:attach", old, "--as", "MIRROR_PREVIOUS", "-a", STAGING],
        ["pg:promote", "MIRROR_NEXT", "-a", STAGING],
        ["addons:detach", "MIRROR_NEXT", "-a", STAGING],
        ["addons:destroy", old, "-a", STAGING, "--confirm", STAGING],
    ]
    assert mirror["data"] == {"holds": PRODUCTION, "sanitized": True, "migrated": True,
                              "bytes": 50 * 1024 * 1024}
    assert old not in world["addons"]
    assert services(world, STAGING) == ["heroku-postgresql"]
    assert world["apps"][STAGING]["maintenance"] is False
    assert world["violations"] == []
    assert serving_database(world, PRODUCTION)["data"]["holds"] == PRODUCTION


def test_mirror_db_refuses_a_backup_too_large_for_logical_backups(heroku, manifest):
    mirror_world(heroku, bytes=25 * 1024 ** 3)
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "bin/heroku-mirror-db: production's database is 25.00GB, over the 20 GB Heroku's "
        "logical backups handle (https://devcenter.heroku.com/articles/pgbackups), so it "
        "stopped: nothing on staging was changed; copy a smaller extract instead.")
    assert [argv[0] for argv in writes(manifest, heroku.calls())] == ["pg:backups:capture"]


def test_mirror_db_refuses_a_shield_database(heroku, manifest):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"}},
                 PRODUCTION: {"config": {"APP_STAGE": "production"},
                              "database_plan": "heroku-postgresql:shield-0"}})
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 1
    assert "which Heroku's backups (PGBackups) do not serve" in result.stderr
    assert writes(manifest, heroku.calls()) == []


def test_mirror_db_stopped_before_the_promote_leaves_staging_on_its_own_data(heroku):
    mirror_world(heroku)
    old = serving_database(heroku.world(), STAGING)["name"]
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING, fault="/sanitize/:fail")
    assert result.returncode == 1
    world = heroku.world()
    assert serving_database(world, STAGING)["name"] == old
    assert world["violations"] == []
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bin/heroku-mirror-db: stopped while sanitizing the mirror "
                           "database: 'heroku run --exit-code -a demo-shop-staging -- ")
    assert "was not promoted: inspect it with 'heroku pg:info MIRROR_NEXT -a " in last
    assert "or run bin/heroku-mirror-db again, which drops it first." in last
    again = heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert again.returncode == 0, again.stderr
    world = heroku.world()
    assert serving_database(world, STAGING)["data"]["sanitized"] is True
    assert services(world, STAGING) == ["heroku-postgresql"]


def test_mirror_db_interrupted_during_the_restore_never_serves_it(heroku):
    mirror_world(heroku)
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING,
                        fault="/pg:backups:restore/:INT")
    assert result.returncode == 130
    assert "stopped by SIGINT while restoring backup b101 into the mirror database" in (
        result.stderr)
    world = heroku.world()
    assert world["violations"] == []
    assert serving_database(world, STAGING)["data"]["holds"] == STAGING


def test_mirror_db_in_place_reopens_staging_when_it_fails_before_the_restore(heroku):
    mirror_world(heroku)
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING, "--in-place",
                        fault="/maintenance:on/:fail")
    assert result.returncode == 1
    world = heroku.world()
    assert world["apps"][STAGING]["maintenance"] is False
    assert "MIRROR_RESUME" not in world["apps"][STAGING]["config"]
    assert "pg:backups:restore" not in [argv[0] for argv in heroku.calls()]


@pytest.mark.parametrize("failing", ["pg:backups:restore", "sanitize"])
def test_mirror_db_in_place_keeps_staging_closed_while_its_data_may_be_unsanitized(
        heroku, failing):
    mirror_world(heroku)
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING, "--in-place",
                        fault=f"/{failing}/:lost")
    assert result.returncode == 1
    world = heroku.world()
    assert world["apps"][STAGING]["maintenance"] is True
    assert world["violations"] == []
    assert "may hold production's unsanitized rows, so it stays in maintenance mode" in (
        result.stderr)
    again = heroku.run("heroku-mirror-db", "--confirm", STAGING, "--in-place")
    assert again.returncode == 0, again.stderr
    world = heroku.world()
    assert world["apps"][STAGING]["maintenance"] is False
    assert serving_database(world, STAGING)["data"]["sanitized"] is True
    assert "MIRROR_RESUME" not in world["apps"][STAGING]["config"]


def test_mirror_db_restores_in_place_on_a_legacy_plan(heroku, manifest):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"},
                           "database_plan": "heroku-postgresql:mini"},
                 PRODUCTION: {"config": {"APP_STAGE": "production"},
                              "database": {"holds": PRODUCTION}}})
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 0, result.stderr
    assert "a plan Heroku no longer provisions" in result.stderr
    assert "addons:create" not in [argv[0] for argv in heroku.calls()]
    assert heroku.world()["violations"] == []


@pytest.fixture(scope="module")
def worker_app(tmp_path_factory) -> Path:
    app = generate(tmp_path_factory.mktemp("worker") / "worker-shop",
                   {"project_name": "demo-shop", "worker": "sidekiq"})
    git(app, "init", "-q", "-b", "main")
    return app


@pytest.fixture
def worker_heroku(worker_app, tmp_path, manifest) -> Heroku:
    app = tmp_path / "worker-shop"
    shutil.copytree(worker_app, app, symlinks=True)
    return Heroku(app, tmp_path)


def worker_world(heroku: Heroku) -> None:
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"},
                           "formation": {"web": 1, "worker": 2}},
                 PRODUCTION: {"config": {"APP_STAGE": "production"},
                              "database": {"holds": PRODUCTION}}})


def test_mirror_db_with_a_shadow_database_leaves_the_worker_running(worker_heroku, manifest):
    worker_world(worker_heroku)
    result = worker_heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 0, result.stderr
    assert "ps:scale" not in [argv[0] for argv in writes(manifest, worker_heroku.calls())]
    assert worker_heroku.world()["violations"] == []


def test_mirror_db_in_place_stops_the_worker_until_the_data_is_sanitized(worker_heroku,
                                                                         manifest):
    worker_world(worker_heroku)
    result = worker_heroku.run("heroku-mirror-db", "--confirm", STAGING, "--in-place")
    assert result.returncode == 0, result.stderr
    calls = writes(manifest, worker_heroku.calls())
    stop = calls.index(["ps:scale", "worker=0", "-a", STAGING])
    restore = [argv[0] for argv in calls].index("pg:backups:restore")
    sanitize = calls.index(["run", "--exit-code", "-a", STAGING, "--", "bin/rails db:sanitize"])
    assert stop < restore < sanitize < calls.index(["ps:scale", "worker=2", "-a", STAGING])
    assert worker_heroku.world()["apps"][STAGING]["formation"]["worker"] == 2
    assert worker_heroku.world()["violations"] == []


def test_mirror_db_in_place_rerun_restores_the_worker_count_of_before(worker_heroku):
    worker_world(worker_heroku)
    result = worker_heroku.run("heroku-mirror-db", "--confirm", STAGING, "--in-place",
                               fault="/sanitize/:fail")
    assert result.returncode == 1
    world = worker_heroku.world()
    assert world["apps"][STAGING]["formation"]["worker"] == 0
    assert "with its worker stopped" in result.stderr
    again = worker_heroku.run("heroku-mirror-db", "--confirm", STAGING, "--in-place")
    assert again.returncode == 0, again.stderr
    world = worker_heroku.world()
    assert world["apps"][STAGING]["formation"]["worker"] == 2
    assert world["apps"][STAGING]["maintenance"] is False
    assert world["violations"] == []


@pytest.mark.parametrize("combo", MATRIX)
def test_deploy_guide_documents_each_script_with_an_example(generated, combo):
    app = generated[combo]
    guide = (app / "DEPLOY.md").read_text()
    for script in SCRIPTS:
        documented = f"### bin/{script}" in guide
        assert documented == (app / "bin" / script).exists(), (combo, script)
        if documented:
            assert re.search(rf"^bin/{script}\b", guide, re.M), (combo, script)
