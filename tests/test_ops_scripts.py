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
from pathlib import Path
from typing import Any

import pytest

from conftest import HEROKU_CLI_DIR, generate, git, missing, require_tool
from helpers.questions import answer_combinations, choice_values, copier_questions, render
from heroku_manifest import load_manifest

from copier_heroku import build_plan

FAKES = Path(__file__).resolve().parent / "fakes"
STAGING, PRODUCTION = "demo-shop-staging", "demo-shop"
SCRIPTS = ("heroku-setup", "heroku-addons", "heroku-config-pull", "heroku-deploy",
           "heroku-mirror-db")
# Commands that only read: a second setup may run these and nothing else.
READ_ONLY = {"auth:whoami", "apps:info", "addons", "config", "config:get", "pipelines:info",
             "pg:backups:schedules", "maintenance"}
# Commands that only read when given no arguments: `ps:scale -a APP` prints the formation.
READ_ONLY_WITHOUT_ARGS = {"ps:scale"}


def reads_only(manifest, argv: list[str]) -> bool:
    command = manifest.resolve(argv[0])
    return command in READ_ONLY or (command in READ_ONLY_WITHOUT_ARGS
                                    and not manifest.parse(argv).args)

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
def manifest():
    try:
        return load_manifest(str(HEROKU_CLI_DIR))
    except FileNotFoundError:
        missing(f"the Heroku CLI's manifest is not in {HEROKU_CLI_DIR} (.ci/run installs it)")


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict[str, Path]:
    """One generated app per combination, each in a git repository with one commit."""
    apps = {}
    for name, data in MATRIX.items():
        app = generate(tmp_path_factory.mktemp(name) / "demo-shop", data)
        git(app, "init", "-q", "-b", "main")
        git(app, "add", "-A")
        git(app, "commit", "-q", "-m", "generated")
        apps[name] = app
    return apps


@pytest.fixture
def app(generated, tmp_path) -> Path:
    """A private copy of the default app, for tests that change it."""
    target = tmp_path / "demo-shop"
    shutil.copytree(generated["defaults"], target, symlinks=True)
    return target


class Heroku:
    """Runs the app's scripts with the stand-in first on PATH, and reads what it recorded."""

    def __init__(self, app: Path, tmp: Path):
        self.app = app
        self.log = tmp / "heroku-calls.jsonl"
        self.state = tmp / "heroku-state.json"
        self.env = {**os.environ, "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
                    "HEROKU_FAKE_LOG": str(self.log), "HEROKU_FAKE_STATE": str(self.state),
                    "HEROKU_CLI_DIR": str(HEROKU_CLI_DIR)}
        self.env.pop("HEROKU_FAKE_FAIL", None)
        self.env.pop("HEROKU_APP", None)

    def run(self, script: str, *args: str, fail: str = "", env: dict | None = None
            ) -> subprocess.CompletedProcess:
        run_env = {**self.env, **(env or {})}
        if fail:
            run_env["HEROKU_FAKE_FAIL"] = fail
        return subprocess.run([str(self.app / "bin" / script), *args], cwd=self.app,
                              env=run_env, capture_output=True, text=True, timeout=120)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def forget_calls(self) -> None:
        self.log.unlink(missing_ok=True)

    def world(self) -> dict[str, Any]:
        return json.loads(self.state.read_text())

    def seed(self, apps: dict[str, dict[str, Any]]) -> None:
        """Start from apps that exist already (each with postgres unless told otherwise)."""
        state = {"apps": {}, "pipelines": {}, "logged_in": True}
        for name, extra in apps.items():
            state["apps"][name] = {
                "region": "us", "team": None, "config": {}, "maintenance": False,
                "addons": [{"name": f"postgresql-{name}", "service": "heroku-postgresql",
                            "plan": "heroku-postgresql:essential-0"}],
                "schedules": [], "backups": [], "runs": [], "restores": [], "promotions": [],
                **extra,
            }
        self.state.write_text(json.dumps(state))


@pytest.fixture
def heroku(app, tmp_path, manifest) -> Heroku:
    return Heroku(app, tmp_path)


def printed_heroku_lines(output: str) -> list[list[str]]:
    """The heroku command lines a --dry-run printed, as argv lists (after `heroku`)."""
    return [shlex.split(line[len("+ heroku "):]) for line in output.splitlines()
            if line.startswith("+ heroku ")]


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
    assert [manifest.error(argv) for argv in logged + again if manifest.error(argv)] == []
    assert [argv for argv in again if not reads_only(manifest, argv)] == []
    assert "Nothing to change." in second.stdout
    world = heroku.world()
    answers = {**{q: s.get("default") for q, s in copier_questions().items()},
               **MATRIX[combo]}
    for name in (STAGING, PRODUCTION):
        assert world["apps"][name]["region"] == answers["heroku_region"]
        assert world["apps"][name]["team"] == (answers["heroku_team"] or None)
        # The chosen add-ons, and those another answer implies (the worker's queue).
        assert sorted(a["service"] for a in world["apps"][name]["addons"]) == \
            sorted(a.key for a in build_plan(answers).addons)
        assert set(answers["addons"]) <= {a["service"] for a in world["apps"][name]["addons"]}
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
    result = heroku.run("heroku-setup", "--dry-run")
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
    assert steps[4].endswith(f"SECRET_KEY_BASE=<secret> SANITIZE_SALT=<secret> -a {STAGING}")
    assert steps[5].startswith("config:set APP_STAGE=production ")
    # The sanitize salt is staging's alone: production never runs the task.
    assert steps[5].endswith(f"SECRET_KEY_BASE=<secret> -a {PRODUCTION}")
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
                 PRODUCTION: {"config": {"APP_STAGE": "staging"}}})
    result = heroku.run("heroku-setup")
    assert result.returncode == 0, result.stderr
    world = heroku.world()
    assert "apps:create" not in {argv[0] for argv in heroku.calls()}
    assert world["apps"][STAGING]["config"]["WEB_CONCURRENCY"] == "4"
    assert world["apps"][STAGING]["config"]["SECRET_KEY_BASE"] == "kept"
    assert "WEB_CONCURRENCY is 4, the template says 2; left as it is" in result.stderr
    assert f"{STAGING} runs in region eu, not us" in result.stderr
    # APP_STAGE is what keeps staging-only tasks off production: it is always put right.
    assert world["apps"][PRODUCTION]["config"]["APP_STAGE"] == "production"


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


@pytest.mark.parametrize("script", ["heroku-addons", "heroku-config-pull", "heroku-mirror-db"])
def test_an_app_that_is_neither_staging_nor_production_is_refused(heroku, script):
    result = heroku.run(script, "--app", "someone-elses-app", "--confirm", "someone-elses-app")
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


def test_missing_heroku_cli_gives_one_clear_line(heroku, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("bash", "git", "dirname", "grep", "env", "openssl", "od", "tr", "date"):
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


def test_config_pull_refuses_an_env_that_git_would_commit(heroku, app):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging"}}})
    (app / ".gitignore").write_text("/log/*\n")
    (app / ".env").unlink(missing_ok=True)
    result = heroku.run("heroku-config-pull")
    assert result.returncode == 1
    assert "bin/heroku-config-pull: .env is not ignored by git" in result.stderr
    assert not (app / ".env").exists()
    assert heroku.calls() == []


def test_config_pull_writes_a_private_env_and_keeps_a_backup_with_force(heroku, app):
    heroku.seed({STAGING: {"config": {"APP_STAGE": "staging", "NOTE": "it's \"quoted\"",
                                      "RAILS_ENV": "production",
                                      "DATABASE_URL": "postgres://u:p@staging-db/d"}}})
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
    assert heroku.calls() == [["auth:whoami"], ["config", "--shell", "-a", STAGING]]


def test_deploy_pushes_to_staging_by_default(heroku):
    result = heroku.run("heroku-deploy", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ git push staging HEAD:main" in result.stdout


def test_deploy_to_production_promotes_staging_through_the_pipeline(heroku):
    assert heroku.run("heroku-setup").returncode == 0
    heroku.forget_calls()
    result = heroku.run("heroku-deploy", "production", "--confirm", PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert heroku.calls() == [["auth:whoami"],
                              ["pipelines:promote", "-a", STAGING, "--to", PRODUCTION]]
    assert heroku.world()["apps"][STAGING]["promotions"] == [PRODUCTION]


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


def test_mirror_db_dry_run_prints_the_whole_sequence(heroku):
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING, "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"+ heroku maintenance:on -a {STAGING}"
    assert lines[-2:] == [f"+ heroku maintenance:off -a {STAGING}",
                          "Dry run: nothing was run. Without --dry-run, bin/heroku-mirror-db "
                          "runs the commands above."]
    assert heroku.calls() == []


def test_mirror_db_restores_production_into_staging_then_sanitizes(heroku):
    heroku.seed({STAGING: {}, PRODUCTION: {}})
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 0, result.stderr
    assert [argv for argv in heroku.calls() if argv[0] != "auth:whoami"] == [
        ["maintenance:on", "-a", STAGING],
        ["pg:backups:capture", "DATABASE_URL", "-a", PRODUCTION],
        ["pg:backups:restore", f"{PRODUCTION}::", "DATABASE_URL", "-a", STAGING,
         "--confirm", STAGING],
        ["run", "--exit-code", "-a", STAGING, "--", "bin/rails", "db:migrate"],
        ["run", "--exit-code", "-a", STAGING, "--", "bin/rails", "db:sanitize"],
        ["maintenance:off", "-a", STAGING],
    ]
    world = heroku.world()
    assert world["apps"][STAGING]["restores"] == [f"{PRODUCTION}::b001"]
    assert world["apps"][STAGING]["maintenance"] is False
    assert world["apps"][PRODUCTION]["restores"] == []


def test_mirror_db_reopens_staging_when_it_fails_before_touching_its_data(heroku):
    heroku.seed({STAGING: {}, PRODUCTION: {}})
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING, fail="pg:backups:capture")
    assert result.returncode != 0
    commands = [argv[0] for argv in heroku.calls()]
    assert commands[-1] == "maintenance:off" and "pg:backups:restore" not in commands
    assert heroku.world()["apps"][STAGING]["maintenance"] is False
    assert "the mirror stopped on a failed step, before staging's data was touched" in (
        result.stderr)


@pytest.mark.parametrize("failing", ["pg:backups:restore", "run"])
def test_mirror_db_keeps_staging_closed_while_its_data_may_be_unsanitized(heroku, failing):
    heroku.seed({STAGING: {}, PRODUCTION: {}})
    result = heroku.run("heroku-mirror-db", "--confirm", STAGING, fail=failing)
    assert result.returncode != 0
    assert "maintenance:off" not in [argv[0] for argv in heroku.calls()]
    assert heroku.world()["apps"][STAGING]["maintenance"] is True
    assert "may now hold production's data, not yet sanitized, so it stays in maintenance" in (
        result.stderr)
    assert (f"heroku run --exit-code -a {STAGING} -- bin/rails db:sanitize && "
            f"heroku maintenance:off -a {STAGING}") in result.stderr


@pytest.fixture
def worker_heroku(tmp_path, manifest) -> Heroku:
    app = generate(tmp_path / "worker-shop", {"project_name": "demo-shop",
                                              "worker": "sidekiq"})
    return Heroku(app, tmp_path)


def test_mirror_db_stops_the_staging_worker_until_the_data_is_sanitized(worker_heroku):
    worker_heroku.seed({STAGING: {"formation": {"web": 1, "worker": 2}}, PRODUCTION: {}})
    result = worker_heroku.run("heroku-mirror-db", "--confirm", STAGING)
    assert result.returncode == 0, result.stderr
    calls = [argv for argv in worker_heroku.calls() if argv[0] != "auth:whoami"]
    stop = calls.index(["ps:scale", "worker=0", "-a", STAGING])
    assert stop < calls.index(["pg:backups:capture", "DATABASE_URL", "-a", PRODUCTION])
    sanitize = calls.index(["run", "--exit-code", "-a", STAGING, "--", "bin/rails",
                            "db:sanitize"])
    assert calls.index(["ps:scale", "worker=2", "-a", STAGING]) > sanitize
    assert worker_heroku.world()["apps"][STAGING]["formation"]["worker"] == 2


def test_mirror_db_leaves_the_worker_stopped_when_sanitize_fails(worker_heroku):
    worker_heroku.seed({STAGING: {"formation": {"web": 1, "worker": 2}}, PRODUCTION: {}})
    result = worker_heroku.run("heroku-mirror-db", "--confirm", STAGING, fail="run")
    assert result.returncode != 0
    assert worker_heroku.world()["apps"][STAGING]["formation"]["worker"] == 0
    assert f"heroku ps:scale worker=2 -a {STAGING}" in result.stderr


@pytest.mark.parametrize("combo", MATRIX)
def test_deploy_guide_documents_each_script_with_an_example(generated, combo):
    app = generated[combo]
    guide = (app / "DEPLOY.md").read_text()
    for script in SCRIPTS:
        documented = f"### bin/{script}" in guide
        assert documented == (app / "bin" / script).exists(), (combo, script)
        if documented:
            assert re.search(rf"^bin/{script}\b", guide, re.M), (combo, script)
