"""The manifest check itself: lines the real Heroku CLI accepts pass, and each kind of
mistake a script could make fails with a reason that names it."""

from __future__ import annotations

import shlex

import pytest
from helpers.heroku_manifest import ManifestError

VALID = [
    "apps:info -a demo-shop --shell",
    "apps:info demo-shop --json",
    "apps:create demo-shop --region eu --team acme --no-remote",
    "addons --json -a demo-shop",
    "addons:create heroku-postgresql:essential-0 -a demo-shop --wait",
    "config --shell --app=demo-shop",
    "config:get SECRET_KEY_BASE -a demo-shop",
    "config:set APP_STAGE=staging WEB_CONCURRENCY=2 -a demo-shop",
    "git:remote -a demo-shop -r staging",
    "pipelines:create demo-shop -a demo-shop-staging --stage staging",
    "pipelines:promote -a demo-shop-staging --to demo-shop",
    "reviewapps:enable -p demo-shop --autodeploy --autodestroy",
    "pg:backups:schedule DATABASE_URL --at '02:00 UTC' -a demo-shop",
    "pg:backups:restore demo-shop:: DATABASE_URL -a demo-shop-staging --confirm demo-shop-staging",
    "run --exit-code -a demo-shop-staging -- bin/rails db:sanitize",
    "maintenance:on -ademo-shop",
    "whoami",  # alias of auth:whoami
    "addons -a demo-shop",
    "ps:scale worker=2 -a demo-shop",
    "ps:scale -a demo-shop",  # prints the formation
]

INVALID = [
    ("pg:backups capture -a demo-shop", "legacy space-separated command 'pg:backups capture'"),
    ("apps:launch demo-shop", "unknown command 'apps:launch'"),
    ("apps:info -a demo-shop --colour", "unknown flag --colour"),
    ("apps:info -a demo-shop -z", "unknown flag -z"),
    ("pg:backups:schedule DATABASE_URL -a demo-shop", "required flag --at"),
    ("pg:backups:schedule DATABASE_URL --at 02:00 UTC -a demo-shop", "unexpected 'UTC'"),
    ("pg:backups:schedule DATABASE_URL -a demo-shop --at", "--at of pg:backups:schedule needs a value"),
    ("config --shell -a", "--app of config needs a value"),
    ("addons:create heroku-postgresql:essential-0 --app -w", "--app of addons:create needs a value"),
    ("apps:info --json=yes -a demo-shop", "--json is a boolean flag"),
    ("config:get -a demo-shop", "needs the argument KEY"),
    ("addons:create -a demo-shop", "needs the argument SERVICE:PLAN"),
    ("pipelines:create demo-shop --stage staging", "required flag --app"),
    ("config -a demo-shop -a other", "--app given twice"),
    ("maintenance:on -a demo-shop now", "takes 0 argument(s)"),
    ("--app demo-shop config", "the command must come first"),
    ("", "no command given"),
    ("ps:scale worker=2", "required flag --app"),
    ("ps scale worker=2 -a demo-shop", "legacy space-separated command 'ps scale'"),
]


@pytest.mark.parametrize("line", VALID)
def test_lines_the_real_cli_accepts_pass(manifest, line):
    assert manifest.error(shlex.split(line)) == ""


@pytest.mark.parametrize(("line", "reason"), INVALID, ids=[r for _, r in INVALID])
def test_lines_the_real_cli_rejects_fail_with_the_reason(manifest, line, reason):
    with pytest.raises(ManifestError) as excinfo:
        manifest.parse(shlex.split(line))
    assert reason in str(excinfo.value)


def test_a_command_named_with_spaces_in_one_word_is_refused(manifest):
    assert "legacy space-separated" in manifest.error(["pg:backups capture", "-a", "x"])


def test_plugin_commands_and_aliases_are_loaded(manifest):
    # `plugins` comes from @oclif/plugin-plugins, not from the core manifest.
    assert manifest.resolve("plugins") == "plugins"
    assert manifest.resolve("whoami") == "auth:whoami"
    assert manifest.resolve("dyno:restart") == "ps:restart"


def test_parsed_lines_keep_flag_values_and_arguments(manifest):
    parsed = manifest.parse(shlex.split(
        "pg:backups:schedule DATABASE_URL --at '03:00 Europe/Paris' --app=demo-shop"))
    assert parsed.command == "pg:backups:schedule"
    assert parsed.args == ["DATABASE_URL"]
    assert parsed.flag("at") == "03:00 Europe/Paris"
    assert parsed.flag("app") == "demo-shop"
    run = manifest.parse(shlex.split("run -x -a demo-shop -- bin/rails db:migrate --trace"))
    assert run.flag("exit-code") is True
    assert run.args == ["bin/rails", "db:migrate", "--trace"]
