"""Sanitize against a real PostgreSQL 15: both engines, one awkward fixture.

The Python engine (template/heroku_sanitize/) and the Ruby engine
(template/lib/heroku_sanitize.rb) run as a user would run them,
as commands, on a fresh database each; `bin/rails db:sanitize` is covered once through its
rake task with ActiveRecord.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from helpers.paths import ROOT
from helpers.postgres import create_database
from helpers.template import generate
from helpers.tools import missing, require_tool

try:
    import psycopg
except ImportError:  # postgres_server reports it: skipped on a laptop, failed in CI
    psycopg = None

TEMPLATE = ROOT / "template"
PY_PACKAGE = TEMPLATE / "heroku_sanitize"
RB_LIB = TEMPLATE / "lib"
RB_ENGINE = RB_LIB / "heroku_sanitize.rb"
RAKE_TASK = RB_LIB / "tasks" / "sanitize.rake"
RULES_TEMPLATE = TEMPLATE / "config" / "sanitize.yml"
ENGINES = ["python", "ruby"]
SALT = "fixture-salt"

FIXTURE_SQL = """
CREATE EXTENSION citext;
CREATE SCHEMA billing;
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email citext NOT NULL UNIQUE,
  name text,
  phone varchar(20),
  address text,
  nickname varchar(20) UNIQUE,
  role text NOT NULL DEFAULT 'member',
  notes text,
  last_sign_in_ip inet,
  api_token text UNIQUE,
  created_at date NOT NULL DEFAULT '2020-01-01'
);
CREATE TABLE billing."Invoices" (
  "Id" integer PRIMARY KEY,
  "userId" bigint NOT NULL REFERENCES users (id),
  "BillingEmail" varchar(20) NOT NULL UNIQUE,
  "customerName" text,
  total numeric NOT NULL
);
CREATE TABLE newsletter_signups (
  email text NOT NULL UNIQUE,
  full_name text,
  signed_up_on date NOT NULL
);
CREATE TABLE sessions (
  id serial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id),
  token text NOT NULL
);
CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL);

INSERT INTO users (email, name, phone, address, nickname, role, notes, last_sign_in_ip,
                   api_token) VALUES
  ('Ada@Example.com', 'Ada Lovelace', '+44 20 7946 0000', '12 St James''s Sq', 'ada',
   'admin', 'VIP', '10.0.0.1', 'tok-ada'),
  ('zoe@example.org', 'Zoë Ñúñez 🌍', NULL, NULL, NULL, 'member', NULL, NULL, NULL),
  ('o''brien@example.net', 'Robert"); DROP TABLE users; --', '555 0199', 'Dún Laoghaire',
   'bobby', 'member', 'said "hi"', '::1', 'tok-bob'),
  ('same@example.com', NULL, '+1 202 555 0100', '1 Main St', NULL, 'member', 'x', NULL,
   'tok-same');
INSERT INTO billing."Invoices" VALUES
  (1, 1, 'ada.billing@ex.com', 'Ada L.', 10),
  (2, 3, 'bob@ex.com', NULL, 20),
  (3, 3, 'free@ex.com', 'Bob (free)', 0);
INSERT INTO newsletter_signups VALUES
  ('ada@example.com', 'Ada', '2021-02-03'),
  ('zoë@exämple.com', NULL, '2021-02-04'),
  ('x@y.z', 'Ex Why', '2021-02-05');
INSERT INTO sessions (user_id, token) VALUES (1, 's1'), (3, 's2');
INSERT INTO products (name) VALUES ('Tea'), ('Cake');
"""

RULES = {
    "salt": SALT,
    "tables": {
        "users": {"columns": {
            "email": "email", "name": "name", "phone": "phone", "address": "address",
            "nickname": "hash", "role": {"constant": "member"}, "notes": "null",
            "last_sign_in_ip": None, "api_token": "hash", "created_at": "keep",
        }},
        "billing.Invoices": {
            "where": '"total" > 0',
            "columns": {"BillingEmail": "email", "customerName": "name"},
        },
        "newsletter_signups": {"columns": {"email": "email", "full_name": "blank"}},
        "products": {"columns": {"name": "keep"}},
    },
    "truncate": ["sessions"],
}

TABLES = ["users", 'billing."Invoices"', "newsletter_signups", "sessions", "products"]


# --- helpers -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def python_path(tmp_path_factory) -> Path:
    """A folder where the template's package imports as `heroku_sanitize`."""
    folder = tmp_path_factory.mktemp("pypath")
    (folder / "heroku_sanitize").symlink_to(PY_PACKAGE, target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def ruby_with_pg() -> str:
    ruby = require_tool("ruby")
    probe = subprocess.run([ruby, "-e", 'require "pg"'], capture_output=True, text=True,
                           check=False)
    if probe.returncode:
        missing("the pg gem is not installed for ruby (apt install ruby-pg)")
    return ruby


@pytest.fixture
def awkward_db(database_url: str) -> str:  # noqa: F811
    with psycopg.connect(database_url, autocommit=True) as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'citext'").fetchone()
        if not available:
            missing("the citext extension is not available (apt install postgresql-contrib)")
        conn.execute(FIXTURE_SQL)
    return database_url


def write_rules(folder: Path, rules: dict) -> Path:
    path = folder / "sanitize.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def command(engine: str, url: str, rules: Path, *extra: str) -> list[str]:
    if engine == "python":
        return [sys.executable, "-m", "heroku_sanitize", "--database-url", url,
                "--rules", str(rules), *extra]
    return ["ruby", str(RB_ENGINE), "--database-url", url, "--rules", str(rules), *extra]


def sanitize(engine: str, url: str, rules: Path, *extra: str, env: dict | None = None,
             python_path: Path, check: bool = True) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("APP_STAGE", "RAILS_ENV", "RACK_ENV", "APP_ENV", "DJANGO_ENV",
                             "FLASK_ENV", "SANITIZE_SALT", "ALLOW_UNCOVERED")}
    full_env.update({"PYTHONPATH": str(python_path), "APP_STAGE": "staging", **(env or {})})
    result = subprocess.run(command(engine, url, rules, *extra), capture_output=True,
                            text=True, env=full_env, timeout=60, check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def snapshot(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def md5(text: str) -> str:
    return hashlib.md5((SALT + text).encode()).hexdigest()


@pytest.fixture(params=ENGINES)
def engine(request, ruby_with_pg, python_path) -> str:
    return request.param


# --- results -----------------------------------------------------------------------------

def test_sanitized_database_holds_no_original_personal_value(engine, awkward_db, tmp_path,
                                                              python_path):
    before = snapshot(awkward_db)
    result = sanitize(engine, awkward_db, write_rules(tmp_path, RULES), python_path=python_path)

    assert "public.users: updated 4 of 4 rows" in result.stdout
    assert 'billing.Invoices: updated 2 of 3 rows' in result.stdout
    assert "public.sessions: truncated 2 rows" in result.stdout
    assert "committed and verified" in result.stdout

    users = rows(awkward_db, "SELECT id, email::text, name, phone, address, nickname, role, "
                             "notes, last_sign_in_ip, api_token, created_at FROM users ORDER BY id")
    assert [u[1] for u in users] == [f"user{i}@example.invalid" for i in (1, 2, 3, 4)]
    assert [u[2] for u in users] == ["User 1", "User 2", "User 3", None]  # NULL stays NULL
    assert [u[3] for u in users] == ["555-1", None, "555-3", "555-4"]
    assert [u[4] for u in users] == ["1 Example Street", None, "3 Example Street",
                                     "4 Example Street"]
    # hash: md5(salt + value), cut to varchar(20): same input, same output.
    assert [u[5] for u in users] == [md5("ada")[:20], None, md5("bobby")[:20], None]
    assert [u[9] for u in users] == [md5("tok-ada"), None, md5("tok-bob"), md5("tok-same")]
    assert {u[6] for u in users} == {"member"}
    assert [u[7] for u in users] == [None] * 4 and [u[8] for u in users] == [None] * 4
    assert [u[10] for u in users] == [u[-1] for u in before["users"]]  # keep

    invoices = rows(awkward_db, 'SELECT "Id", "BillingEmail", "customerName" '
                                'FROM billing."Invoices" ORDER BY 1')
    assert invoices == [(1, "user1@example.invali", "User 1"), (2, "user2@example.invali", None),
                        (3, "free@ex.com", "Bob (free)")]  # where: total > 0

    signups = rows(awkward_db, "SELECT email, full_name FROM newsletter_signups ORDER BY 2, 1")
    # No primary key: 16 hex digits of md5(salt + value) name the row.
    expected = sorted([(f"user{md5(e)[:16]}@example.invalid", f) for e, f in
                       [("ada@example.com", ""), ("x@y.z", ""), ("zoë@exämple.com", None)]],
                      key=lambda r: (r[1] is None, r[1] or "", r[0]))
    assert sorted(signups, key=lambda r: (r[1] is None, r[1] or "", r[0])) == expected

    assert rows(awkward_db, "SELECT count(*) FROM sessions") == [(0,)]
    assert snapshot(awkward_db)["products"] == before["products"]
    originals = {v for table in ("users", "newsletter_signups") for row in before[table]
                 for v in row if isinstance(v, str) and ("@" in v or "tok-" in v)}
    after = snapshot(awkward_db)
    assert not originals & {v for row in after["users"] + after["newsletter_signups"]
                            for v in row}


def test_both_engines_print_the_same_sql_and_leave_the_same_data(
        awkward_db, postgres_server, tmp_path, ruby_with_pg, python_path):  # noqa: F811
    rules = write_rules(tmp_path, RULES)
    sql = {e: sanitize(e, awkward_db, rules, "--dry-run", python_path=python_path).stdout
           for e in ENGINES}
    assert sql["python"] == sql["ruby"]
    assert 'UPDATE "public"."users" SET "email" = ' in sql["python"]
    assert sql["python"].count("UPDATE ") == 3  # one per table, products only kept

    other = create_database(postgres_server)
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute(FIXTURE_SQL)
    sanitize("python", awkward_db, rules, python_path=python_path)
    sanitize("ruby", other, rules, python_path=python_path)
    assert snapshot(awkward_db) == snapshot(other)


def test_dry_run_changes_nothing(engine, awkward_db, tmp_path, python_path):
    before = snapshot(awkward_db)
    result = sanitize(engine, awkward_db, write_rules(tmp_path, RULES), "--dry-run",
                      python_path=python_path)
    assert 'TRUNCATE TABLE "public"."sessions"' in result.stdout
    assert snapshot(awkward_db) == before


def test_a_second_run_succeeds_and_leaves_the_same_data(engine, awkward_db, tmp_path,
                                                        python_path):
    rules = write_rules(tmp_path, RULES)
    sanitize(engine, awkward_db, rules, python_path=python_path)
    first = snapshot(awkward_db)
    sanitize(engine, awkward_db, rules, python_path=python_path)
    second = snapshot(awkward_db)
    # Key-derived values are stable; md5-derived ones are re-hashed (still no original).
    assert second["users"] == [r[:5] + (md5(r[5])[:20] if r[5] else None,) + r[6:9]
                               + (md5(r[9]) if r[9] else None,) + r[10:] for r in first["users"]]
    assert second['billing."Invoices"'] == first['billing."Invoices"']
    assert len(second["newsletter_signups"]) == 3


# --- all or nothing ----------------------------------------------------------------------

def test_a_failing_statement_leaves_the_database_unchanged(engine, awkward_db, tmp_path,
                                                           python_path):
    before = snapshot(awkward_db)
    rules = {**RULES, "tables": {**RULES["tables"], "newsletter_signups": {
        "where": "1 / 0 = 1", "columns": {"email": "email", "full_name": "blank"}}}}
    result = sanitize(engine, awkward_db, write_rules(tmp_path, rules), check=False,
                      python_path=python_path)
    assert result.returncode != 0
    assert "division by zero" in result.stderr
    assert "public.users: updated 4 of 4 rows" in result.stdout  # it got that far
    assert snapshot(awkward_db) == before


def test_a_killed_run_leaves_the_database_unchanged(engine, awkward_db, tmp_path, python_path):
    before = snapshot(awkward_db)
    rules = {**RULES, "tables": {**RULES["tables"], "newsletter_signups": {
        "where": "pg_sleep(0.5) IS NOT NULL",
        "columns": {"email": "email", "full_name": "blank"}}}}
    env = {k: v for k, v in os.environ.items() if k != "APP_ENV"}
    env.update({"PYTHONPATH": str(python_path), "APP_STAGE": "staging"})
    proc = subprocess.Popen(command(engine, awkward_db, write_rules(tmp_path, rules)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if "public.users: updated" in line:
                break
        else:
            pytest.fail(f"the run ended before updating users: {proc.stderr.read()}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    # The server notices the dead client and rolls back; wait until its backend is gone.
    deadline = time.monotonic() + 20
    while rows(awkward_db, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND pid <> pg_backend_pid()")[0][0]:
        assert time.monotonic() < deadline, "the killed run's session is still there"
        time.sleep(0.2)
    assert snapshot(awkward_db) == before


def test_verification_fails_when_a_trigger_restores_originals(engine, awkward_db, tmp_path,
                                                              python_path):
    with psycopg.connect(awkward_db, autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION keep_email() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.email := OLD.email; RETURN NEW; END $$;
            CREATE TRIGGER keep_email BEFORE UPDATE ON users
              FOR EACH ROW EXECUTE FUNCTION keep_email();""")
    before = snapshot(awkward_db)
    result = sanitize(engine, awkward_db, write_rules(tmp_path, RULES), check=False,
                      python_path=python_path)
    assert result.returncode != 0
    assert ("verification failed: public.users: values not replaced as the rules say in "
            "email (4 rows); nothing was changed") in result.stderr
    assert snapshot(awkward_db) == before


def test_an_autocommit_connection_still_gets_one_transaction(awkward_db, tmp_path,
                                                             python_path):
    """Django hands its connection over in autocommit mode."""
    sys.path.insert(0, str(python_path))
    from heroku_sanitize import engine as py_engine

    rules = {**RULES, "tables": {**RULES["tables"], "newsletter_signups": {
        "where": "1 / 0 = 1", "columns": {"email": "email", "full_name": "blank"}}}}
    before = snapshot(awkward_db)
    with psycopg.connect(awkward_db, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            py_engine.run(conn, py_engine.load_rules(str(write_rules(tmp_path, rules))),
                          env={"APP_STAGE": "test"}, out=io.StringIO())
        assert conn.autocommit
    assert snapshot(awkward_db) == before


# --- refusals, before anything changes ---------------------------------------------------

@pytest.mark.parametrize("env, reason", [
    ({"APP_STAGE": "production"}, "APP_STAGE is production"),
    ({"APP_STAGE": "production", "RAILS_ENV": "development"}, "APP_STAGE is production"),
    ({"APP_STAGE": "", "APP_ENV": "production"}, {
        "ruby": "APP_STAGE is unset and APP_ENV is production",
        "python": "APP_STAGE is unset, which counts as production"}),
    ({"APP_STAGE": "prod", "APP_ENV": "production"}, "APP_STAGE is 'prod', not a known stage"),
], ids=["stage-production", "stage-wins-over-env", "no-stage-production-env", "unknown-stage"])
def test_production_is_refused_and_nothing_changes(engine, awkward_db, tmp_path, python_path,
                                                   env, reason):
    if isinstance(reason, dict):
        reason = reason[engine]
    before = snapshot(awkward_db)
    result = sanitize(engine, awkward_db, write_rules(tmp_path, RULES), env=env, check=False,
                      python_path=python_path)
    assert result.returncode != 0
    assert "refusing to run" in result.stderr and reason in result.stderr
    assert snapshot(awkward_db) == before


def test_python_apps_treat_an_unset_stage_as_production(awkward_db, tmp_path, python_path):
    """As heroku_env.py does: nothing on Heroku sets DJANGO_ENV, so it cannot vouch."""
    before = snapshot(awkward_db)
    result = sanitize("python", awkward_db, write_rules(tmp_path, RULES), check=False,
                      env={"APP_STAGE": "", "DJANGO_ENV": "development"},
                      python_path=python_path)
    assert result.returncode != 0
    assert "APP_STAGE is unset, which counts as production" in result.stderr
    assert snapshot(awkward_db) == before


def test_staging_runs_although_its_framework_environment_is_production(engine, awkward_db,
                                                                       tmp_path, python_path):
    framework = {"RAILS_ENV": "production", "DJANGO_ENV": "production", "APP_ENV": "production"}
    result = sanitize(engine, awkward_db, write_rules(tmp_path, RULES),
                      env={"APP_STAGE": "staging", **framework}, python_path=python_path)
    assert "APP_STAGE=staging" in result.stdout


def test_an_uncovered_personal_column_stops_the_run_before_any_change(engine, awkward_db,
                                                                      tmp_path, python_path):
    rules = {**RULES, "tables": {k: v for k, v in RULES["tables"].items() if k != "products"}}
    with psycopg.connect(awkward_db, autocommit=True) as conn:
        conn.execute('ALTER TABLE billing."Invoices" ADD COLUMN "contactPhone" text')
    before = snapshot(awkward_db)
    path = write_rules(tmp_path, rules)
    result = sanitize(engine, awkward_db, path, check=False, python_path=python_path)
    assert result.returncode != 0
    assert (f"{path}: these columns look personal and no rule covers them: "
            "billing.Invoices.contactPhone, public.products.name.") in result.stderr
    assert snapshot(awkward_db) == before

    allowed = sanitize(engine, awkward_db, path, "--allow-uncovered", python_path=python_path)
    assert "not covered, allowed: billing.Invoices.contactPhone" in allowed.stdout


@pytest.mark.parametrize("change, message", [
    (lambda r: r["tables"]["users"]["columns"].update(emial="email"),
     "tables.users.columns.emial: no column emial in public.users"),
    (lambda r: r["tables"].update(customers={"columns": {"email": "email"}}),
     "tables.customers: no table customers in the database (search path: public)"),
    (lambda r: r["tables"]["users"]["columns"].update(email="scramble"),
     "tables.users.columns.email: unknown strategy 'scramble'"),
    (lambda r: r["tables"]["users"]["columns"].update(role="null"),
     "tables.users.columns.role: public.users.role is NOT NULL"),
    (lambda r: r["tables"]["users"]["columns"].update(email={"constant": "a@b.c"}),
     "tables.users.columns.email: public.users.email is unique"),
    (lambda r: r["tables"]["users"]["columns"].update(last_sign_in_ip="email"),
     "tables.users.columns.last_sign_in_ip: email needs a text column"),
    (lambda r: r["truncate"].append("users"),
     "tables.users: public.users is also in truncate:"),
    (lambda r: r["tables"]["users"].update(wher="id > 1"),
     "tables.users.wher: unknown key"),
], ids=["unknown-column", "unknown-table", "unknown-strategy", "null-on-not-null",
        "constant-on-unique", "text-strategy-on-inet", "truncated-and-ruled", "typo-in-key"])
def test_a_rule_error_names_the_file_and_the_rule(engine, awkward_db, tmp_path, python_path,
                                                  change, message):
    rules = yaml.safe_load(yaml.safe_dump(RULES))
    change(rules)
    before = snapshot(awkward_db)
    path = write_rules(tmp_path, rules)
    result = sanitize(engine, awkward_db, path, check=False, python_path=python_path)
    assert result.returncode == 1
    assert f"sanitize: {path}: {message}" in result.stderr
    assert snapshot(awkward_db) == before


# --- the Rails task and the generated files ----------------------------------------------

def test_rake_db_sanitize_runs_through_the_active_record_connection(awkward_db, tmp_path,
                                                                    ruby_with_pg):
    rake = require_tool("rake")
    probe = subprocess.run(["ruby", "-e", 'require "active_record"'], capture_output=True,
                           check=False)
    if probe.returncode:
        missing("ActiveRecord is not installed for ruby (apt install ruby-activerecord)")
    app = tmp_path / "app"
    (app / "lib" / "tasks").mkdir(parents=True)
    (app / "config").mkdir()
    (app / "lib" / "heroku_sanitize.rb").write_text(RB_ENGINE.read_text())
    (app / "lib" / "tasks" / "sanitize.rake").write_text(RAKE_TASK.read_text())
    write_rules(app / "config", RULES)
    # What `rails` does before a db task: connect ActiveRecord in :environment.
    (app / "Rakefile").write_text(textwrap.dedent("""
        require "active_record"
        task :environment do
          ActiveRecord::Base.establish_connection(ENV.fetch("DATABASE_URL"))
        end
        Dir[File.join(__dir__, "lib/tasks/*.rake")].each { |f| load f }
    """))
    env = {**os.environ, "DATABASE_URL": awkward_db, "APP_STAGE": "review",
           "RAILS_ENV": "production"}
    result = subprocess.run([rake, "-f", str(app / "Rakefile"), "db:sanitize"], cwd=app,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "public.users: updated 4 of 4 rows" in result.stdout
    assert rows(awkward_db, "SELECT email::text FROM users WHERE id = 1") == [
        ("user1@example.invalid",)]

    refused = subprocess.run([rake, "-f", str(app / "Rakefile"), "db:sanitize"], cwd=app,
                             env={**env, "APP_STAGE": "production"}, capture_output=True,
                             text=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert "sanitize: refusing to run: APP_STAGE is production" in refused.stderr


def test_a_rails_app_gets_the_task_engine_and_an_empty_rules_file(tmp_path, awkward_db,
                                                                  python_path):
    app = generate(tmp_path / "app")
    rules = app / "config" / "sanitize.yml"
    assert yaml.safe_load(rules.read_text()) == {"tables": {}, "truncate": []}
    assert "#   users:" in rules.read_text()  # the commented example
    assert (app / "lib" / "tasks" / "sanitize.rake").read_text() == RAKE_TASK.read_text()
    assert (app / "lib" / "heroku_sanitize.rb").exists()
    assert not (app / "heroku_sanitize").exists()
    # On a real schema the empty rules stop at the coverage check, naming every column.
    result = sanitize("python", awkward_db, rules, check=False, python_path=python_path)
    assert result.returncode == 1
    assert "public.users.email, public.users.name, public.users.phone" in result.stderr
