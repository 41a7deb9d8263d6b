"""Rails 7.2, as `rails new` makes it today, boots for real with the deploy layer applied.

Debian 13's Rails 7.2 (Ruby 3.3, Puma 6.6, Sidekiq 7.3) runs in a chroot built once by
.ci/run (tests/helpers/trixie.py); the layer is copied on from this machine, as a
developer would. The app declares Rails 8's four production databases (primary, cache,
queue, cable), so the release phase migrates all of them on Heroku's one DATABASE_URL.
The same checks as the 6.1 boots of test_boot.py: the development and production servers
answer from a real PostgreSQL, the release phase migrates, production refuses to boot
without its secret, `db:sanitize` scrubs staging and refuses production; and Sidekiq runs
the smoke job from Redis over TLS. Each boot runs in a network namespace of its own and
is stopped by its PID.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import trixie
from helpers.boot_apps import (
    DATABASE_ROUTE,
    PORT,
    ROUTER_HEADERS,
    boot,
    boot_env,
    describe,
    heroku_config,
    new_secret,
    stopped_cleanly,
)
from helpers.paths import TESTS
from helpers.postgres import create_database

try:
    import psycopg
except ImportError:  # the postgres_server fixture reports it
    psycopg = None

pytestmark = pytest.mark.slow

FOREMAN_STOPPED = 0
NO_ENV_FILE = ["-e", "/dev/null"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    trixie.trixie_root()
    return tmp_path_factory.mktemp("rails72")


@pytest.fixture(scope="module")
def app(work):
    return trixie.build_rails72_app(work)


@pytest.fixture(scope="module")
def pg_admin(request) -> str:
    return request.getfixturevalue("postgres_server")


def procfile(app) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (app / "Procfile").read_text().splitlines())


def production_env(app, database_url: str, **values) -> dict[str, str]:
    return boot_env(app.parent / "home", **{
        **heroku_config(app), "APP_STAGE": "production", "SECRET_KEY_BASE": new_secret(),
        "DATABASE_URL": database_url, **values})


def in_chroot(work, app, argv: list[str], env: dict[str, str]) -> list[str]:
    return trixie.command(work, app, argv, env)


def release(work, app, env) -> subprocess.CompletedProcess:
    """Heroku's release phase: the Procfile's `release:` command, before the web starts."""
    return trixie.run(work, app, ["sh", "-c", procfile(app)["release"]], env)


def test_ci_builds_the_chroot_these_tests_expect():
    run = (TESTS.parent / ".ci" / "run").read_text()
    assert f"trixie_packages={','.join(trixie.PACKAGES)}\n" in run


def test_rails_new_of_debian_13_is_rails_7_2(work, app):
    done = trixie.run(work, app, ["bin/rails", "runner", "puts Rails.version"],
                      boot_env(work / "home"))
    assert done.stdout.strip().startswith("7.2."), done.stdout + done.stderr


def test_the_release_phase_migrates_every_production_database_on_one_database_url(
        work, app, pg_admin):
    database_url = create_database(pg_admin)
    env = production_env(app, database_url)

    done = release(work, app, env)

    assert done.returncode == 0, done.stdout + done.stderr
    with psycopg.connect(database_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == ["20240101000000"]
    configs = trixie.run(work, app, ["bin/rails", "runner", (
        "puts ActiveRecord::Base.configurations.configs_for(env_name: 'production')"
        ".map { |c| [c.name, c.database].join('=') }.join(' ')")], env)
    names = dict(pair.split("=") for pair in configs.stdout.split())
    assert set(names) == {"primary", "cache", "queue", "cable"}, configs.stderr
    assert set(names.values()) == {database_url.rsplit("/", 1)[1]}


def test_the_production_web_answers_from_postgres(work, app, pg_admin):
    database_url = create_database(pg_admin)
    env = production_env(app, database_url)
    assert release(work, app, env).returncode == 0

    report = boot(app, in_chroot(work, app, ["foreman", "start", "web", *NO_ENV_FILE, "-p",
                                             str(PORT)], env),
                  env, path=DATABASE_ROUTE, headers=ROUTER_HEADERS, database_url=database_url)

    assert report["status"] == 200, describe(report)
    assert report["body"] == database_url.rsplit("/", 1)[1]
    assert "Puma starting in cluster mode" in report["output"], describe(report)
    assert "Puma version: 6." in report["output"], describe(report)
    assert not stopped_cleanly(report, FOREMAN_STOPPED), stopped_cleanly(report, FOREMAN_STOPPED)


def test_the_development_server_of_procfile_dev_answers_from_postgres(work, app, pg_admin):
    database_url = create_database(pg_admin)
    env = boot_env(work / "home", DATABASE_URL=database_url)
    migrate = trixie.run(work, app, ["bin/rails", "db:migrate"], env)
    assert migrate.returncode == 0, migrate.stderr

    # foreman loads .env (the development secret, APP_STAGE=development) as bin/dev does.
    report = boot(app, in_chroot(work, app, ["foreman", "start", "-f", "Procfile.dev", "-p",
                                             str(PORT)], env),
                  env, path=DATABASE_ROUTE, database_url=database_url)

    assert report["status"] == 200, describe(report)
    assert report["body"] == database_url.rsplit("/", 1)[1]
    assert not stopped_cleanly(report, FOREMAN_STOPPED), stopped_cleanly(report, FOREMAN_STOPPED)


def test_production_refuses_to_boot_without_secret_key_base(work, app, pg_admin):
    database_url = create_database(pg_admin)
    env = production_env(app, database_url, SECRET_KEY_BASE=None)

    report = boot(app, in_chroot(work, app, ["foreman", "start", "web", *NO_ENV_FILE, "-p",
                                             str(PORT)], env),
                  env, path=DATABASE_ROUTE, headers=ROUTER_HEADERS, database_url=database_url)

    assert report["status"] is None, describe(report)
    assert report["exited_by_itself"], describe(report)
    assert "SECRET_KEY_BASE is not set, so production refuses to boot" in report["output"]
    assert not report["left_running"]


def test_puma_6_gets_herokus_keep_alive_settings(work, app):
    harness = app / "tmp" / "puma_config.rb"
    harness.write_text((TESTS / "support" / "puma_config.rb").read_text())
    done = trixie.run(work, app, ["ruby", "tmp/puma_config.rb", "config/puma.rb"],
                      {"RAILS_ENV": "production"})
    assert done.returncode == 0, done.stderr
    settings = json.loads(done.stdout)
    assert settings["puma"].startswith("6.")
    assert settings["persistent_timeout"] == 95
    assert settings["keep_alives"] is False
    assert (settings["workers"], settings["max_threads"]) == (2, 3)


@pytest.fixture
def customer(work, app, pg_admin):
    (app / "config" / "sanitize.yml").write_text(
        "tables:\n  users:\n    columns:\n      email: email\n      name: name\n"
        "truncate: []\n")
    database_url = create_database(pg_admin)
    assert release(work, app, production_env(app, database_url)).returncode == 0
    with psycopg.connect(database_url) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, name, created_at, updated_at) VALUES "
            "('ada@real-customer.example', 'Ada Lovelace', now(), now()) RETURNING id"
        ).fetchone()[0]
    return database_url, user_id


def read_user(database_url: str, user_id: int):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT email, name FROM users WHERE id = %s",
                            (user_id,)).fetchone()


def test_db_sanitize_scrubs_staging_and_refuses_production(work, app, customer):
    database_url, user_id = customer

    refused = trixie.run(work, app, ["bin/rails", "db:sanitize"],
                         production_env(app, database_url))
    assert refused.returncode != 0
    assert "APP_STAGE is production" in refused.stderr
    assert read_user(database_url, user_id) == ("ada@real-customer.example", "Ada Lovelace")

    done = trixie.run(work, app, ["bin/rails", "db:sanitize"],
                      production_env(app, database_url, APP_STAGE="staging"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_user(database_url, user_id) == (f"user{user_id}@example.invalid",
                                                f"User {user_id}")


def test_sidekiq_7_runs_the_smoke_job_from_heroku_redis_over_tls(tmp_path_factory):
    from helpers.redis import heroku_style_redis, run_worker_until_smoke

    work = tmp_path_factory.mktemp("rails72-sidekiq")
    trixie.trixie_root()
    with heroku_style_redis() as (redis_url, redis_cli):
        app = trixie.rails_new(work)
        # `rails new --minimal` leaves Active Job out; an app with jobs has it.
        application = app / "config" / "application.rb"
        application.write_text(application.read_text().replace(
            '# require "active_job/railtie"', 'require "active_job/railtie"'))
        app = trixie.build_rails72_app(work, {"worker": "sidekiq", "worker_min": "1",
                                              "addons": ["heroku-redis"]},
                                       solid_databases=False, made=app)
        env = boot_env(work / "home", REDIS_URL=redis_url, PORT="5000")

        log = run_worker_until_smoke(
            app, in_chroot(work, app, ["foreman", "start", "-f", "Procfile.dev", "worker"],
                           env),
            in_chroot(work, app, ["bin/rails", "runner", "SmokeJob.perform_later"], env),
            env, redis_cli, timeout=120)

    assert "SmokeJob ran at" in log
    assert "Sidekiq 7." in log or "sidekiq 7." in log.lower(), log[-3000:]
