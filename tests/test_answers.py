"""Bad answers are refused with one plain sentence, and nothing is written; the prompts
work for a person at a terminal."""

from __future__ import annotations

import os
import sys

import pytest
from copier_heroku import owned_lines
from helpers.paths import ROOT
from helpers.template import generate
from helpers.tools import require_module

BAD_ANSWERS = [
    # (id, answers, words the refusal must contain)
    ("app-uppercase", {"production_app": "MyShop"}, "Production app name must be 3 to 30"),
    ("app-too-long", {"production_app": "a" * 31}, "Production app name must be 3 to 30"),
    ("app-too-short", {"production_app": "ab"}, "Production app name must be 3 to 30"),
    ("app-leading-digit", {"production_app": "1shop"}, "start with a letter"),
    ("app-underscore", {"production_app": "my_shop"}, "lowercase letters, digits and dashes"),
    ("app-space", {"production_app": "my shop"}, "lowercase letters, digits and dashes"),
    ("app-shell-metacharacters", {"production_app": "shop;rm-rf"}, "Production app name"),
    ("app-trailing-dash", {"production_app": "shop-"}, "end with a letter or digit"),
    ("staging-uppercase", {"staging_app": "Shop-Staging"}, "Staging app name must be"),
    ("staging-equals-production", {"production_app": "shop", "staging_app": "shop"},
     "Staging app must differ from the production app"),
    ("slug-dollar", {"app_slug": "shop$(id)"}, "App slug must be 3 to 30"),
    ("project-name-backticks", {"project_name": "Shop `id`"}, "Project name must be"),
    ("project-name-no-letters", {"project_name": "---"}, "at least one letter"),
    ("team-uppercase", {"heroku_team": "ACME"}, "Heroku team must be empty or a team name"),
    ("team-shell", {"heroku_team": "acme&&x"}, "Heroku team must be empty"),
    ("schedule-minutes", {"backup_schedule": "02:30 UTC"}, "Backup schedule must be a whole hour"),
    ("schedule-no-zone", {"backup_schedule": "02:00"}, "Backup schedule must be"),
    ("schedule-unknown-zone", {"backup_schedule": "02:00 Mars/Olympus"}, "Backup schedule"),
    ("schedule-hour-24", {"backup_schedule": "24:00 UTC"}, "Backup schedule must be"),
    ("schedule-quote", {"backup_schedule": "02:00 UTC'; heroku apps:destroy"}, "Backup schedule"),
    ("unknown-addon", {"addons": ["heroku-postgresql", "mongolab"]}, "'mongolab' is not in"),
    ("unknown-region", {"heroku_region": "mars"}, "'mars' is not in"),
    ("unknown-stack", {"stack": "laravel"}, "'laravel' is not in"),
    ("python-module-dash", {"stack": "django", "python_module": "my-shop"},
     "Python package must be a lowercase Python name"),
    ("python-module-keyword", {"stack": "flask", "python_module": "class"},
     "Python package must be"),
    ("unknown-web-server", {"web_server": "webrick"}, "'webrick' is not in"),
]


@pytest.mark.parametrize("answers,sentence", [(a, s) for _, a, s in BAD_ANSWERS],
                         ids=[i for i, _, _ in BAD_ANSWERS])
def test_bad_answer_is_refused_with_a_sentence(tmp_path, answers, sentence):
    with pytest.raises(ValueError) as refused:
        generate(tmp_path / "app", {"project_name": "Shop", **answers})
    assert sentence in str(refused.value)
    assert not (tmp_path / "app").exists() or not any((tmp_path / "app").iterdir())


@pytest.mark.parametrize("answers", [
    {"project_name": "Café Ünïcode Shop"},
    {"production_app": "a" * 30, "staging_app": "b" * 30},
    {"backup_schedule": "23:00 Europe/Paris"},
    {"backup_schedule": ""},
    {"heroku_team": "acme-web-2"},
], ids=["unicode-project-name", "thirty-characters", "other-time-zone", "no-backups", "team"])
def test_edge_answers_are_accepted(tmp_path, answers):
    app = generate(tmp_path / "app", {"project_name": "Shop", **answers})
    assert (app / "Procfile").exists()


def test_defaults_derive_from_the_project_name(tmp_path):
    app = generate(tmp_path / "whatever", {"project_name": "Acme Web Shop"})
    answers = (app / ".copier-answers.heroku.yml").read_text()
    assert "app_slug: acme-web-shop" in answers
    assert "production_app: acme-web-shop" in answers
    assert "staging_app: acme-web-shop-staging" in answers


def test_a_person_answers_the_prompts_and_a_wrong_answer_is_asked_again(tmp_path):
    pexpect = require_module("pexpect")
    dst = tmp_path / "shop"
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "200", "LINES": "50"}
    child = pexpect.spawn(
        sys.executable, ["-m", "copier", "copy", "--trust", "--vcs-ref", "HEAD", str(ROOT),
                         str(dst)],
        env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))
    try:
        # Copier shows each question's help text as its prompt.
        def answer(prompt: str, text: str | None = None, key: str = "\r") -> None:
            child.expect(prompt)
            if text is not None:
                child.send(text)
            child.send(key)

        answer("human name", "\x15Corner Shop")
        answer("Short machine name")  # accept the suggested corner-shop
        answer("Which framework")  # Ruby on Rails, the first choice
        answer("Rails version of the app")  # no Gemfile.lock here: the newest
        answer("Production web server")
        answer("Development server", key="\x1b[B\r")  # arrow down to Thin
        # A wrong production app name is refused with the validator's sentence ...
        child.expect("Heroku app name of production")
        child.send("\x15")  # clear the suggested default
        child.send("Corner_Shop")
        child.expect("must be 3 to 30 characters of lowercase letters")
        # ... and the corrected one is accepted.
        child.send("\x15")
        child.send("corner-shop-prod\r")
        answer("Heroku app name of staging")
        answer("Region both apps", key="\x1b[B\r")  # Europe
        answer("Heroku team that owns")
        answer("Background worker")  # none: the other worker questions are skipped
        answer("creates on both apps")  # keep the default selection
        answer("Daily Postgres backup")
        answer("Put staging and production")
        answer("Turn on review apps")
        child.expect(pexpect.EOF, timeout=120)
    finally:
        child.close()
    assert child.exitstatus == 0, f"copier exited {child.exitstatus}: {child.before}"
    answers = (dst / ".copier-answers.heroku.yml").read_text()
    assert "production_app: corner-shop-prod" in answers
    assert "dev_server: thin" in answers
    assert "heroku_region: eu" in answers
    assert owned_lines.processes((dst / "Procfile.dev").read_text()) == {
        "web": "bundle exec thin start -a 127.0.0.1 -p $PORT"}
