"""The plan's facts the ops scripts read: which add-on holds the database and what the
mirror knows of its plans, and which secrets an app may hold under an older name."""

from __future__ import annotations

from copier_heroku import build_plan, catalog


def plan(**answers):
    return build_plan({"stack": "rails", "addons": ["heroku-postgresql"], **answers})


def test_the_database_addon_is_the_one_flagged_as_the_database():
    assert plan().database_addon.key == "heroku-postgresql"
    assert plan(addons=["newrelic"]).database_addon is None
    # GoodJob keeps its queue in Postgres: the database comes with it.
    assert plan(addons=[], worker="good_job").database_addon.key == "heroku-postgresql"


def test_the_mirror_knows_the_plans_it_cannot_use_and_the_backup_limit():
    database = catalog.ADDONS["heroku-postgresql"]
    assert "mini" in database.legacy_plans and "basic" in database.legacy_plans
    assert database.plan not in database.legacy_plans
    assert database.no_backup_plans == ("shield-",)
    assert database.backup_limit_gb == 20


def test_secrets_held_under_an_older_name_are_known_per_stack():
    assert plan().legacy_secret_names == {"SECRET_KEY_BASE": ("SECRET_TOKEN",)}
    assert plan(stack="django", python_module="shop").legacy_secret_names == {
        "SECRET_KEY": ("DJANGO_SECRET_KEY",)}
    # SANITIZE_SALT has no older name: it is generated when missing.
    assert "SANITIZE_SALT" in plan().generated_secrets("staging")
    assert "SANITIZE_SALT" not in plan().legacy_secret_names
