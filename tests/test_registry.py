"""The registry and its validators, as plain functions."""

from __future__ import annotations

import pytest

from extensions import registry


@pytest.mark.parametrize("text,slug", [
    ("My Shop", "my-shop"),
    ("  Café & Bar!  ", "caf-bar"),
    ("2024 Report", "report"),
    ("a" * 40, "a" * 30),
])
def test_slugify(text, slug):
    assert registry.slugify(text) == slug


@pytest.mark.parametrize("name", ["shop", "my-shop-2", "a" * 30, "abc"])
def test_heroku_app_names_that_heroku_accepts(name):
    assert registry.heroku_app_name_error(name) == ""


@pytest.mark.parametrize("name", ["ab", "a" * 31, "Shop", "1shop", "my_shop", "shop-",
                                  "-shop", "my shop", "my--shop", "", None])
def test_heroku_app_names_that_heroku_refuses(name):
    message = registry.heroku_app_name_error(name, "Staging app name")
    assert message.startswith("Staging app name must be 3 to 30 characters")
    assert message.count(".") >= 1 and "\n" not in message


@pytest.mark.parametrize("schedule,ok", [
    ("", True), ("02:00 UTC", True), ("00:00 America/New_York", True),
    ("23:00 Europe/Paris", True), ("2:00 UTC", False), ("02:15 UTC", False),
    ("24:00 UTC", False), ("02:00", False), ("02:00 Nowhere/City", False),
    ("02:00 UTC extra", False),
])
def test_backup_schedule(schedule, ok):
    assert (registry.backup_schedule_error(schedule) == "") is ok


def test_every_stack_names_its_secret_and_process_manager():
    for stack in registry.STACKS.values():
        assert stack.secret_var and stack.process_manager and stack.buildpack


def test_default_addons_exist_with_a_plan():
    for key in registry.DEFAULT_ADDONS:
        assert registry.ADDONS[key].plan


def test_plan_for_default_rails_answers():
    plan = registry.build_plan({
        "stack": "rails", "web_server": "puma", "dev_server": "thin",
        "addons": ["newrelic", "heroku-postgresql"], "project_name": "Shop",
        "production_app": "shop", "staging_app": "shop-staging",
        "backup_schedule": "02:00 UTC"})
    assert plan.procfile == [("web", "bundle exec puma -C config/puma.rb"),
                             ("release", "bin/rails db:migrate")]
    assert plan.procfile_dev == [("web", "bundle exec thin start -a 127.0.0.1 -p $PORT")]
    # Registry order, whatever order the answers came in.
    assert [a.key for a in plan.addons] == ["heroku-postgresql", "newrelic"]
    assert [p.name for p in plan.packages] == ["puma", "thin", "pg", "newrelic_rpm"]
    assert plan.config_values("staging")["APP_STAGE"] == "staging"
    assert plan.config_values("production")["NEW_RELIC_APP_NAME"] == "shop"
    assert plan.config_values("staging")["NEW_RELIC_APP_NAME"] == "shop-staging"
    assert "SECRET_KEY_BASE" not in plan.config_values("production")
    assert plan.backups_at == "02:00 UTC"


def test_no_backups_without_postgres():
    plan = registry.build_plan({"stack": "rails", "web_server": "puma", "dev_server": "puma",
                                "addons": ["newrelic"], "backup_schedule": "02:00 UTC"})
    assert plan.backups_at == ""
    assert [name for name, _ in plan.procfile] == ["web"]


@pytest.mark.parametrize("name,slug", [("My Shop", "my-shop"), ("cf", "cf-app"), ("x", "x-app"),
                                       ("42", "app")])
def test_the_suggested_slug_is_a_valid_heroku_name(name, slug):
    assert registry.app_slug_default(name) == slug
    assert registry.heroku_app_name_error(slug) == ""


def test_copier_yml_offers_exactly_what_the_registry_knows():
    """A choice without a registry entry would render nothing; an entry without a choice
    could never be chosen."""
    from conftest import choice_values

    assert set(choice_values("stack")) == set(registry.STACKS)
    assert set(choice_values("addons")) == set(registry.ADDONS)
    rails_servers = {k for k, s in registry.WEB_SERVERS.items() if "rails" in s.stacks}
    assert set(choice_values("web_server")) == rails_servers
    rails_dev = {k for k, s in registry.DEV_SERVERS.items() if "rails" in s.stacks}
    assert set(choice_values("dev_server")) == rails_dev
