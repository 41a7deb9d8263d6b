"""Every stack boots for real with the deploy layer applied, the way Heroku runs it.

Rails: Debian's Rails 6.1 app from `rails new`, the template on top, `bundle install
--local`; the Procfile.dev servers (puma, thin) and the production Procfile servers (puma,
unicorn) each answer HTTP 200 from a route that queries a real PostgreSQL. Django and
Flask: the generated app in a venv; honcho runs Procfile.dev and Procfile (gunicorn).
Production boots run with the config vars bin/heroku-setup sets (read from the catalog)
and without `.env`, which is gitignored and so never reaches a dyno.

Each boot runs in a network namespace of its own (tests/support/boot_probe.py), is stopped
by its PID, and must leave no process behind.
"""

from __future__ import annotations

import secrets
import subprocess

import pytest
from helpers.boot_apps import (
    DATABASE_ROUTE,
    PORT,
    ROUTER_HEADERS,
    boot,
    boot_env,
    build_python_app,
    build_rails_app,
    describe,
    heroku_config,
    make_venv,
    new_secret,
    rails,
    stopped_cleanly,
    venv_env,
)
from helpers.postgres import create_database
from helpers.tools import require_tool

try:
    import psycopg
except ImportError:  # pg_admin (the postgres_server fixture) reports it: skipped on a laptop, failed in CI
    psycopg = None

pytestmark = pytest.mark.slow

FOREMAN_STOPPED = 0  # foreman exits 0 once its processes stopped on TERM
HONCHO_STOPPED = 143  # honcho exits 128 + SIGTERM
# Heroku never sees .env (it is gitignored): production boots read no env file.
NO_ENV_FILE = ["-e", "/dev/null"]

# What each server prints once it listens: proof that the Procfile started the one chosen.
SERVER_BANNERS = {
    "puma": "Puma starting in",
    "thin": "Thin web server",
    "unicorn": "listening on addr=0.0.0.0:",
    "gunicorn": "Starting gunicorn",
    "runserver": "Starting development server at http://127.0.0.1:",
    "flask": "Running on http://127.0.0.1:",
}
PYTHON_DEV_SERVERS = {"django": "runserver", "flask": "flask"}

# Two apps cover the four servers: each has one production and one development server.
RAILS_VARIANTS = {"puma": "thin", "unicorn": "puma"}  # web_server: dev_server


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def pg_admin(request) -> str:
    """The admin URL of the session's PostgreSQL server (conftest.py)."""
    return request.getfixturevalue("postgres_server")


@pytest.fixture(scope="module")
def rails_apps(tmp_path_factory):
    """web_server -> app, built on first use; dev servers are found through RAILS_VARIANTS."""
    require_tool("rails")
    require_tool("foreman")
    built = {}

    def get(web_server: str):
        if web_server not in built:
            parent = tmp_path_factory.mktemp(f"rails-{web_server}")
            built[web_server] = build_rails_app(parent, web_server=web_server,
                                                dev_server=RAILS_VARIANTS[web_server])
        return built[web_server]

    return get


def procfile(app) -> dict[str, str]:
    """Process type -> command, as Heroku reads the app's Procfile."""
    return dict(line.split(": ", 1) for line in (app / "Procfile").read_text().splitlines())


def rails_app_with_dev_server(rails_apps, dev_server: str):
    web_server = next(web for web, dev in RAILS_VARIANTS.items() if dev == dev_server)
    return rails_apps(web_server)


def rails_production_env(app, database_url: str, **values):
    return boot_env(app.parent / "home", **{
        **heroku_config(app), "APP_STAGE": "production", "SECRET_KEY_BASE": new_secret(),
        "DATABASE_URL": database_url, **values})


@pytest.fixture(scope="module")
def python_apps(tmp_path_factory):
    """(stack, with_newrelic) -> app, and one venv per stack holding what both apps need."""
    built = {}
    venvs = {}

    def get(stack: str, newrelic: bool = False):
        key = (stack, newrelic)
        if key not in built:
            for with_newrelic in (False, True):
                addons = ["heroku-postgresql"] + (["newrelic"] if with_newrelic else [])
                parent = tmp_path_factory.mktemp(f"{stack}-{'nr' if with_newrelic else 'plain'}")
                built[(stack, with_newrelic)] = build_python_app(parent, stack=stack,
                                                                 addons=addons)
            venvs[stack] = make_venv(
                tmp_path_factory.mktemp(f"venv-{stack}") / "venv",
                [built[(stack, flag)] / "requirements.txt" for flag in (False, True)])
        return built[key], venvs[stack]

    return get


def python_production_env(stack: str, app, venv_dir, database_url: str, **values):
    return venv_env(venv_dir, app.parent / "home", **{
        **heroku_config(app), "APP_STAGE": "production",
        "SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": database_url, **values})


# --------------------------------------------------------------------------- Rails

@pytest.mark.parametrize("dev_server", ["puma", "thin"])
def test_rails_bin_dev_server_answers_from_postgres(rails_apps, pg_admin, dev_server):
    app = rails_app_with_dev_server(rails_apps, dev_server)
    database_url = create_database(pg_admin)
    # foreman loads .env (the development secret, APP_STAGE=development) as bin/dev does.
    env = boot_env(app.parent / "home", DATABASE_URL=database_url)
    migrate = rails(app, env, "db:migrate")
    assert migrate.returncode == 0, migrate.stderr

    report = boot(app, ["foreman", "start", "-f", "Procfile.dev", "-p", str(PORT)], env,
                  path=DATABASE_ROUTE, database_url=database_url)

    assert report["status"] == 200, describe(report)
    assert report["body"] == database_url.rsplit("/", 1)[1]
    assert SERVER_BANNERS[dev_server] in report["output"]
    assert not stopped_cleanly(report, FOREMAN_STOPPED), stopped_cleanly(report, FOREMAN_STOPPED)


@pytest.mark.parametrize("web_server", ["puma", "unicorn"])
def test_rails_production_web_answers_from_postgres_after_the_release_phase(
        rails_apps, pg_admin, web_server):
    app = rails_apps(web_server)
    assert f"bundle exec {web_server}" in procfile(app)["web"]
    database_url = create_database(pg_admin)
    env = rails_production_env(app, database_url)

    # Heroku runs the release command before it starts the new web dynos.
    release = subprocess.run(procfile(app)["release"], shell=True, cwd=app, env=env,
                             capture_output=True, text=True, timeout=180, check=False)
    assert release.returncode == 0, release.stderr
    report = boot(app, ["foreman", "start", "web", *NO_ENV_FILE, "-p", str(PORT)], env,
                  path=DATABASE_ROUTE, headers=ROUTER_HEADERS, database_url=database_url)

    assert report["status"] == 200, describe(report)
    assert report["body"] == database_url.rsplit("/", 1)[1]
    assert SERVER_BANNERS[web_server] in report["output"]
    assert not stopped_cleanly(report, FOREMAN_STOPPED), stopped_cleanly(report, FOREMAN_STOPPED)


def test_rails_production_refuses_to_boot_without_secret_key_base(rails_apps, pg_admin):
    app = rails_apps("puma")
    database_url = create_database(pg_admin)
    env = rails_production_env(app, database_url, SECRET_KEY_BASE=None)

    report = boot(app, ["foreman", "start", "web", *NO_ENV_FILE, "-p", str(PORT)], env,
                  path=DATABASE_ROUTE, headers=ROUTER_HEADERS, database_url=database_url)

    assert report["status"] is None, describe(report)
    assert report["exited_by_itself"], describe(report)
    assert "SECRET_KEY_BASE is not set, so production refuses to boot" in report["output"]
    assert not report["left_running"]


def test_rails_release_phase_creates_the_tables_of_the_app_migrations(rails_apps, pg_admin):
    app = rails_apps("puma")
    database_url = create_database(pg_admin)

    release = subprocess.run(procfile(app)["release"], shell=True, cwd=app, check=False,
                             env=rails_production_env(app, database_url),
                             capture_output=True, text=True, timeout=180)

    assert release.returncode == 0, release.stderr
    with psycopg.connect(database_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        columns = {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")}
    assert versions == ["20240101000000"]
    assert {"email", "name"} <= columns


@pytest.fixture
def rails_database_with_a_customer(rails_apps, pg_admin):
    """The puma app with sanitize rules for its users table, and a migrated database
    holding one real-looking user: (app, database_url, user_id)."""
    app = rails_apps("puma")
    (app / "config" / "sanitize.yml").write_text(
        "tables:\n  users:\n    columns:\n      email: email\n      name: name\n"
        "truncate: []\n")
    database_url = create_database(pg_admin)
    assert rails(app, rails_production_env(app, database_url), "db:migrate").returncode == 0
    with psycopg.connect(database_url) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, name, created_at, updated_at) VALUES "
            "('ada@real-customer.example', 'Ada Lovelace', now(), now()) RETURNING id"
        ).fetchone()[0]
    return app, database_url, user_id


def read_user(database_url: str, user_id: int):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT email, name FROM users WHERE id = %s",
                            (user_id,)).fetchone()


def test_rails_db_sanitize_scrubs_a_staging_copy_of_production(rails_database_with_a_customer):
    app, database_url, user_id = rails_database_with_a_customer
    # Staging runs the production environment; only APP_STAGE tells it apart.
    env = rails_production_env(app, database_url, APP_STAGE="staging")

    done = rails(app, env, "db:sanitize")

    assert done.returncode == 0, done.stdout + done.stderr
    assert read_user(database_url, user_id) == (f"user{user_id}@example.invalid",
                                                f"User {user_id}")


def test_rails_db_sanitize_refuses_production(rails_database_with_a_customer):
    app, database_url, user_id = rails_database_with_a_customer

    done = rails(app, rails_production_env(app, database_url), "db:sanitize")

    assert done.returncode != 0
    assert "APP_STAGE is production" in done.stderr
    assert read_user(database_url, user_id) == ("ada@real-customer.example", "Ada Lovelace")


# --------------------------------------------------------------------------- Django, Flask

@pytest.mark.parametrize("stack", ["django", "flask"])
def test_python_bin_dev_server_answers_health(python_apps, stack):
    app, venv_dir = python_apps(stack)
    # honcho loads .env (the development secret, APP_STAGE=development) as bin/dev does.
    env = venv_env(venv_dir, app.parent / "home")

    report = boot(app, [str(venv_dir / "bin" / "honcho"), "start", "-f", "Procfile.dev",
                        "-p", str(PORT)], env, path="/health")

    assert report["status"] == 200, describe(report)
    assert '"ok"' in report["body"]
    assert SERVER_BANNERS[PYTHON_DEV_SERVERS[stack]] in report["output"]
    assert not stopped_cleanly(report, HONCHO_STOPPED), stopped_cleanly(report, HONCHO_STOPPED)


@pytest.mark.parametrize("stack,newrelic", [("django", False), ("flask", False),
                                            ("django", True), ("flask", True)],
                         ids=["django", "flask", "django-newrelic", "flask-newrelic"])
def test_python_production_gunicorn_answers_health_behind_the_router(
        python_apps, pg_admin, stack, newrelic):
    app, venv_dir = python_apps(stack, newrelic)
    web = procfile(app)["web"]
    assert web.startswith("newrelic-admin run-program gunicorn " if newrelic else "gunicorn ")
    database_url = create_database(pg_admin)
    # No NEW_RELIC_LICENSE_KEY: the agent must not stop the app from booting without it.
    env = python_production_env(stack, app, venv_dir, database_url)

    report = boot(app, [str(venv_dir / "bin" / "honcho"), "start", "web", *NO_ENV_FILE,
                        "-p", str(PORT)], env, path="/health", headers=ROUTER_HEADERS,
                  database_url=database_url)

    assert report["status"] == 200, describe(report)
    assert report["headers"].get("Server") == "gunicorn"
    assert SERVER_BANNERS["gunicorn"] in report["output"]
    assert not stopped_cleanly(report, HONCHO_STOPPED), stopped_cleanly(report, HONCHO_STOPPED)


@pytest.mark.parametrize("stack", ["django", "flask"])
def test_python_production_answers_400_to_a_host_outside_allowed_hosts(
        python_apps, pg_admin, stack):
    app, venv_dir = python_apps(stack)
    env = python_production_env(stack, app, venv_dir, create_database(pg_admin))

    report = boot(app, [str(venv_dir / "bin" / "honcho"), "start", "web", *NO_ENV_FILE,
                        "-p", str(PORT)], env, path="/health", expect_status=400,
                  headers={**ROUTER_HEADERS, "Host": "demo-shop.attacker.example"})

    assert report["status"] == 400, describe(report)
    assert not stopped_cleanly(report, HONCHO_STOPPED), stopped_cleanly(report, HONCHO_STOPPED)


def test_django_production_redirects_plain_http_to_https(python_apps, pg_admin):
    app, venv_dir = python_apps("django")
    env = python_production_env("django", app, venv_dir, create_database(pg_admin))
    plain = {**ROUTER_HEADERS, "X-Forwarded-Proto": "http"}

    report = boot(app, [str(venv_dir / "bin" / "honcho"), "start", "web", *NO_ENV_FILE,
                        "-p", str(PORT)], env, path="/health", expect_status=301,
                  headers=plain)

    assert report["status"] == 301, describe(report)
    assert report["headers"]["Location"] == f"https://{ROUTER_HEADERS['Host']}/health"


@pytest.mark.parametrize("stack", ["django", "flask"])
def test_python_production_refuses_to_boot_without_secret_key(python_apps, pg_admin,
                                                              stack):
    app, venv_dir = python_apps(stack)
    env = python_production_env(stack, app, venv_dir, create_database(pg_admin),
                                SECRET_KEY=None)

    report = boot(app, [str(venv_dir / "bin" / "honcho"), "start", "web", *NO_ENV_FILE,
                        "-p", str(PORT)], env, path="/health", headers=ROUTER_HEADERS)

    assert report["status"] is None, describe(report)
    assert report["exited_by_itself"], describe(report)
    assert "SECRET_KEY is not set, so production refuses to boot" in report["output"]
    assert not report["left_running"]


def test_django_check_deploy_passes_under_production_settings(python_apps, pg_admin):
    app, venv_dir = python_apps("django")
    env = python_production_env("django", app, venv_dir, create_database(pg_admin))

    done = subprocess.run(["python", "manage.py", "check", "--deploy", "--fail-level",
                           "WARNING"], cwd=app, env=env, capture_output=True, text=True,
                          timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr


def test_django_release_command_migrates_a_real_postgres(python_apps, pg_admin):
    app, venv_dir = python_apps("django")
    database_url = create_database(pg_admin)
    env = python_production_env("django", app, venv_dir, database_url)

    done = subprocess.run(procfile(app)["release"], shell=True, cwd=app, env=env,
                          capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    with psycopg.connect(database_url) as conn:
        applied = {row[0] for row in conn.execute("SELECT app FROM django_migrations")}
    assert {"auth", "contenttypes", "sessions"} <= applied


@pytest.fixture(params=["django", "flask"])
def python_database_with_a_customer(request, python_apps, pg_admin):
    """A Python app with sanitize rules for a users table holding one real-looking user:
    (stack, app, venv, database_url, user_id)."""
    stack = request.param
    app, venv_dir = python_apps(stack)
    (app / "config" / "sanitize.yml").write_text(
        "tables:\n  users:\n    columns:\n      email: email\n      name: name\n"
        "truncate: []\n")
    database_url = create_database(pg_admin)
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, "
                     "name text)")
        user_id = conn.execute("INSERT INTO users (email, name) VALUES "
                               "('ada@real-customer.example', 'Ada Lovelace') RETURNING id"
                               ).fetchone()[0]
    return stack, app, venv_dir, database_url, user_id


def sanitize_in(stack: str, app, env) -> subprocess.CompletedProcess:
    """The task as bin/heroku-mirror-db runs it on staging (the catalog's command)."""
    from copier_heroku.catalog import STACKS

    return subprocess.run(STACKS[stack].sanitize_command, shell=True, cwd=app, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_python_sanitize_command_scrubs_a_staging_copy(python_database_with_a_customer):
    stack, app, venv_dir, database_url, user_id = python_database_with_a_customer
    env = python_production_env(stack, app, venv_dir, database_url, APP_STAGE="staging")

    done = sanitize_in(stack, app, env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "public.users: updated 1 of 1 rows" in done.stdout + done.stderr
    assert read_user(database_url, user_id) == (f"user{user_id}@example.invalid",
                                                f"User {user_id}")


def test_python_sanitize_command_refuses_production(python_database_with_a_customer):
    stack, app, venv_dir, database_url, user_id = python_database_with_a_customer
    env = python_production_env(stack, app, venv_dir, database_url)

    done = sanitize_in(stack, app, env)

    assert done.returncode != 0
    assert "APP_STAGE is production" in done.stderr
    assert read_user(database_url, user_id) == ("ada@real-customer.example", "Ada Lovelace")
