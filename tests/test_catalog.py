"""The catalog, the answers' validators and the plan, as plain Python; and copier.yml held to
the catalog it renders its choices from.

(answers and questions are Copier's words; the validators live in copier_heroku/answers.py.)"""

from __future__ import annotations

import pytest
import yaml
from copier_heroku import answers, build_plan, catalog
from helpers.paths import ROOT
from helpers.questions import choice_values, copier_questions, is_asked, offered, render
from helpers.template import generate


@pytest.mark.parametrize("text,slug", [
    ("My Shop", "my-shop"),
    ("  Café & Bar!  ", "caf-bar"),
    ("2024 Report", "report"),
    ("a" * 40, "a" * 30),
])
def test_slugify(text, slug):
    assert answers.slugify(text) == slug


@pytest.mark.parametrize("name", ["shop", "my-shop-2", "a" * 30, "abc"])
def test_heroku_app_names_that_heroku_accepts(name):
    assert answers.heroku_app_name_error(name) == ""


@pytest.mark.parametrize("name", ["ab", "a" * 31, "Shop", "1shop", "my_shop", "shop-",
                                  "-shop", "my shop", "my--shop", "", None])
def test_heroku_app_names_that_heroku_refuses(name):
    message = answers.heroku_app_name_error(name, "Staging app name")
    assert message.startswith("Staging app name must be 3 to 30 characters")
    assert message.count(".") >= 1 and "\n" not in message


@pytest.mark.parametrize("schedule,ok", [
    ("", True), ("02:00 UTC", True), ("00:00 America/New_York", True),
    ("23:00 Europe/Paris", True), ("2:00 UTC", False), ("02:15 UTC", False),
    ("24:00 UTC", False), ("02:00", False), ("02:00 Nowhere/City", False),
    ("02:00 UTC extra", False),
])
def test_backup_schedule(schedule, ok):
    assert (answers.backup_schedule_error(schedule) == "") is ok


def test_every_stack_names_its_secret_process_manager_and_sanitize_command():
    for stack in catalog.STACKS.values():
        assert stack.secret_var and stack.process_manager and stack.buildpack
        assert stack.sanitize_command
        # Ruby's dependency line is the stack's; a Python stack's, its package manager's.
        assert stack.dependency.line if stack.language == "ruby" else not stack.dependency
        assert stack.language in ("ruby", "python")


def test_every_addon_offered_has_a_plan_or_says_it_takes_herokus_default():
    for addon in catalog.ADDONS.values():
        assert addon.plan, f"{addon.key}: name its default plan"


def test_plan_for_default_rails_answers():
    plan = build_plan({
        "stack": "rails", "web_server": "puma", "dev_server": "thin",
        "addons": ["newrelic", "heroku-postgresql"], "project_name": "Shop",
        "production_app": "shop", "staging_app": "shop-staging",
        "backup_schedule": "02:00 UTC"})
    assert plan.procfile == [("web", "bundle exec puma -C config/puma.rb"),
                             ("release", "bin/rails db:migrate")]
    assert plan.procfile_dev == [("web", "bundle exec thin start -a 127.0.0.1 -p $PORT")]
    # Catalog order, whatever order the answers came in.
    assert [a.key for a in plan.addons] == ["heroku-postgresql", "newrelic"]
    assert [p.name for p in plan.packages] == ["puma", "thin", "pg", "newrelic_rpm"]
    assert plan.config_values("staging")["APP_STAGE"] == "staging"
    assert plan.config_values("production")["NEW_RELIC_APP_NAME"] == "shop"
    assert plan.config_values("staging")["NEW_RELIC_APP_NAME"] == "shop-staging"
    assert "SECRET_KEY_BASE" not in plan.config_values("production")
    assert plan.generated_secrets("production") == ["SECRET_KEY_BASE"]
    assert plan.generated_secrets("staging") == ["SECRET_KEY_BASE", "SANITIZE_SALT"]
    assert plan.backups_at == "02:00 UTC"
    assert "bin/heroku-mirror-db" in plan.files()


def test_no_backups_and_no_mirror_without_a_database():
    plan = build_plan({"stack": "rails", "web_server": "puma", "dev_server": "puma",
                       "addons": ["newrelic"], "backup_schedule": "02:00 UTC"})
    assert plan.backups_at == ""
    assert [name for name, _ in plan.procfile] == ["web"]
    assert "bin/heroku-mirror-db" not in plan.files()
    assert not is_asked("backup_schedule", {"stack": "rails", "addons": ["newrelic"]})


def test_a_worker_brings_the_addon_of_its_queue_and_what_that_addon_brings():
    """GoodJob keeps its queue in Postgres: with no add-on chosen, the plan still creates
    the database, so the backup question is asked and the mirror script is written."""
    chosen = {"stack": "rails", "worker": "good_job", "addons": []}
    plan = build_plan(chosen)
    assert plan.has_postgres and plan.uses("heroku-postgresql")
    assert is_asked("backup_schedule", chosen)
    assert "bin/heroku-mirror-db" in plan.files()


def test_good_job_without_addons_writes_the_mirror_and_records_the_backup_time(tmp_path):
    app = generate(tmp_path / "app", {"worker": "good_job", "addons": []})
    assert (app / "bin" / "heroku-mirror-db").is_file()
    recorded = yaml.safe_load((app / ".copier-answers.heroku.yml").read_text())
    assert recorded["backup_schedule"] == "02:00 UTC"
    assert "heroku-postgresql" in (app / "app.json").read_text()
    assert "bin/heroku-mirror-db" in (app / "DEPLOY.md").read_text()


@pytest.mark.parametrize("name,slug", [("My Shop", "my-shop"), ("cf", "cf-app"), ("x", "x-app"),
                                       ("42", "app")])
def test_the_suggested_slug_is_a_valid_heroku_name(name, slug):
    assert answers.app_slug_default(name) == slug
    assert answers.heroku_app_name_error(slug) == ""


def test_copier_yml_takes_its_catalog_choices_from_the_catalog():
    """A label exists once, in the catalog: copier.yml renders the choices of these
    questions from it instead of listing them."""
    questions = copier_questions()
    for name in ("stack", "web_server", "dev_server", "worker", "autoscaler", "addons"):
        assert isinstance(questions[name]["choices"], str), f"{name} lists its own choices"


def test_copier_yml_offers_exactly_what_the_catalog_knows():
    """A choice without a catalog entry would render nothing; an entry without a choice
    could never be chosen."""
    assert set(choice_values("stack")) == set(catalog.STACKS)
    assert set(choice_values("addons")) == set(catalog.ADDONS)
    for stack in catalog.STACKS:
        context = {"stack": stack}
        servers = {k for k, s in catalog.WEB_SERVERS.items() if stack in s.stacks}
        assert set(choice_values("web_server", context)) == servers
        dev = {k for k, s in catalog.DEV_SERVERS.items() if stack in s.stacks}
        assert set(choice_values("dev_server", context)) == dev
        # A server question is asked only where the stack has a choice to make.
        assert is_asked("web_server", context) is (len(servers) > 1)
    every_worker = {value for value, _ in offered("worker", {"stack": "rails"})}
    assert every_worker == {"none", *catalog.WORKERS}
    assert set(choice_values("autoscaler")) == {"none", *catalog.AUTOSCALERS}


def test_choice_labels_come_from_the_catalog_entries():
    labels = yaml.safe_load(render(copier_questions()["addons"]["choices"], {}))
    for label, key in labels.items():
        entry = catalog.ADDONS[key]
        assert label.startswith(entry.label)


def test_the_catalog_modules_stay_data():
    """A fork edits the catalog; it holds entries, not logic."""
    for name in ("catalog.py", "stacks.py"):
        source = (ROOT / "extensions" / "copier_heroku" / name).read_text()
        assert "def " not in source, name


def test_every_help_text_renders_whatever_the_answers_so_far():
    """In a terminal Copier renders the help of every question, also of one it will skip."""
    from helpers.questions import pairwise

    free_text = {"project_name": "Demo Shop", "app_slug": "demo-shop",
                 "python_module": "demo_shop", "worker_min": "1"}
    for answers_so_far in [{}, *pairwise()]:
        for name, spec in copier_questions().items():
            if "help" in spec:
                context = {**free_text, "stack": "rails", **answers_so_far}
                assert render(spec["help"], context).strip()
