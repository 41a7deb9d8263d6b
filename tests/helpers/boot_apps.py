"""Build real apps with the template applied, and boot them under foreman or honcho.

Shared by tests/test_boot.py and bench/boot_bench.py. Every boot goes through
boot_probe.py inside `unshare -n`: the servers bind 0.0.0.0 the way they do on a dyno,
but only the namespace's own loopback exists, and PostgreSQL is reached through its unix
socket, relayed to the same 127.0.0.1:PORT the DATABASE_URL names outside.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import venv
from pathlib import Path
from urllib.parse import urlsplit

from copier_heroku import build_plan

from helpers.paths import ROOT, TESTS
from helpers.rails import rails_new
from helpers.template import generate
from helpers.tools import missing, require_tool

PROBE = TESTS / "support" / "boot_probe.py"
# Inside a namespace of its own every port is free; 5000 is foreman's and honcho's default.
PORT = 5000
# The Host header Heroku's router sends for the staging app; ALLOWED_HOSTS on Heroku is
# .herokuapp.com (see the catalog), which allows it.
HEROKU_HOST = "demo-shop-staging.herokuapp.com"
# Heroku's router ends TLS and says so; the production configs redirect plain HTTP.
ROUTER_HEADERS = {"X-Forwarded-Proto": "https", "Host": HEROKU_HOST}
# Variables a developer's shell might hold that would change what boots.
_SCRUBBED = ("PORT", "DATABASE_URL", "RAILS_ENV", "RACK_ENV", "APP_STAGE", "SECRET_KEY",
             "SECRET_KEY_BASE", "SECRET_TOKEN", "SECRET_KEY_BASE_DUMMY", "WEB_CONCURRENCY",
             "DJANGO_SETTINGS_MODULE", "FLASK_APP", "NEW_RELIC_LICENSE_KEY", "BUNDLE_GEMFILE",
             "VIRTUAL_ENV", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER")
# The Rails route a developer adds to check the database: 200 only after a real query.
DATABASE_ROUTE = "/db-check"
_ROUTE = (f'  get "{DATABASE_ROUTE}", to: proc {{ [200, {{ "Content-Type" => "text/plain" }}, '
          '[ActiveRecord::Base.connection.select_value("SELECT current_database()")]] }\n')
_USERS_MIGRATION = """\
class CreateUsers < ActiveRecord::Migration[6.1]
  def change
    create_table :users do |t|
      t.string :email, null: false
      t.string :name
      t.timestamps
    end
  end
end
"""


# --------------------------------------------------------------------------- environment

def heroku_config(app: Path) -> dict[str, str]:
    """The plain config vars bin/heroku-setup sets on this app's production app."""
    import yaml

    answers = yaml.safe_load((app / ".copier-answers.heroku.yml").read_text())
    return build_plan(answers).config_values("production")


def boot_env(home: Path, **values: str | None) -> dict[str, str]:
    """This process's environment without app settings, plus `values` (None unsets).

    HOME is a scratch folder: nothing the servers write at boot (gunicorn 25.1+ opens a
    control socket under ~/.gunicorn) lands in the real home.
    """
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def new_secret() -> str:
    return secrets.token_hex(64)


def unix_socket(server_url: str) -> str:
    """The unix socket of the test PostgreSQL server (the fixture sets its directory)."""
    import psycopg

    with psycopg.connect(server_url) as conn:
        directory = conn.execute("SHOW unix_socket_directories").fetchone()[0].split(",")[0]
    return f"{directory.strip()}/.s.PGSQL.{urlsplit(server_url).port}"


# --------------------------------------------------------------------------- booting

def boot(app: Path, command: list[str], env: dict[str, str], *, path: str,
         headers: dict[str, str] | None = None, database_url: str | None = None,
         expect_status: int = 200, timeout: float = 60.0) -> dict:
    """Run one process manager command in a fresh network namespace until HTTP 200
    (or `expect_status`).

    Returns boot_probe.py's report. With `database_url` (postgres://...@127.0.0.1:PORT/...)
    the probe relays that port inside the namespace to the server's unix socket.
    """
    require_tool("unshare")
    require_tool("ip")
    # Root makes a network namespace directly; anyone else needs a user namespace too.
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
    args = [*unshare, "--", sys.executable, str(PROBE), "--loopback-up",
            "--cwd", str(app), "--port", str(PORT), "--path", path,
            "--timeout", str(timeout), "--expect-status", str(expect_status)]
    for name, value in (headers or {}).items():
        args += ["--header", f"{name}: {value}"]
    if database_url:
        args += ["--forward", f"{urlsplit(database_url).port}={unix_socket(database_url)}"]
    done = subprocess.run([*args, "--", *command], env=env, capture_output=True, text=True,
                          timeout=timeout + 60, check=False)
    if done.returncode:
        if "unshare failed" in done.stderr or "Operation not permitted" in done.stderr:
            missing(f"cannot create a network namespace here: {done.stderr.strip()}")
        raise RuntimeError(f"boot_probe.py failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


def stopped_cleanly(report: dict, exit_code: int) -> str:
    """'' when the manager stopped on TERM with `exit_code` and left nothing; else why."""
    problems = []
    if report["exited_by_itself"]:
        problems.append("the process manager exited by itself before it was stopped")
    if report["exit_code"] != exit_code:
        problems.append(f"exit code {report['exit_code']}, expected {exit_code}")
    if report["killed_after_grace"]:
        problems.append("it ignored TERM and had to be killed")
    if report["left_running"] or report["group_left_running"]:
        problems.append(f"processes outlived it: {report['left_running']}")
    if not report["port_free_after"]:
        problems.append(f"port {PORT} is still bound")
    return "; ".join(problems)


def describe(report: dict) -> str:
    return (f"status={report['status']} error={report['error']!r} "
            f"exit={report['exit_code']}\n--- output ---\n{report['output']}")


# --------------------------------------------------------------------------- Rails

def build_rails_app(parent: Path, *, web_server: str, dev_server: str,
                    src: Path = ROOT) -> Path:
    """`rails new` (Debian's Rails 6.1), the template on top, bundled from local gems.

    Add-ons leave out newrelic: Debian packages no newrelic_rpm, and `bundle install
    --local` cannot fetch it.
    """

    require_tool("bundle")
    parent.mkdir(parents=True, exist_ok=True)
    app = rails_new(parent)
    gemfile = app / "Gemfile"
    # Debian has no byebug gem, and `rails new` asks for it.
    gemfile.write_text("".join(line for line in gemfile.read_text().splitlines(True)
                               if not re.match(r"\s*gem ['\"]byebug['\"]", line)))
    generate(app, {"addons": ["heroku-postgresql"], "web_server": web_server,
                   "dev_server": dev_server, "rails_version": "6.1"}, overwrite=True, src=src)
    bundle = subprocess.run(["bundle", "install", "--local"], cwd=app, capture_output=True,
                            text=True, env=boot_env(parent / "home"), check=False)
    if bundle.returncode:
        raise RuntimeError(f"bundle install --local failed:\n{bundle.stdout}{bundle.stderr}")
    add_app_code(app)
    return app


def add_app_code(app: Path) -> None:
    """What the app's developer adds: a route that needs the database, a users table; and,
    as on Heroku, no master key."""
    (app / "config" / "master.key").unlink(missing_ok=True)
    routes = app / "config" / "routes.rb"
    text = routes.read_text()
    routes.write_text(text.replace("Rails.application.routes.draw do\n",
                                   "Rails.application.routes.draw do\n" + _ROUTE, 1))
    migrations = app / "db" / "migrate"
    migrations.mkdir(parents=True, exist_ok=True)
    (migrations / "20240101000000_create_users.rb").write_text(_USERS_MIGRATION)


def rails(app: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bin/rails", *args], cwd=app, env=env, capture_output=True,
                          text=True, timeout=180, check=False)


# --------------------------------------------------------------------------- Python

def build_python_app(parent: Path, *, stack: str, addons: list[str],
                     src: Path = ROOT) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    # pip, installed below with make_venv(); uv and Poetry: tests/test_python_builds.py.
    return generate(parent / "app", {"stack": stack, "addons": addons,
                                     "python_package_manager": "pip"}, src=src)


def make_venv(path: Path, requirement_files: list[Path]) -> Path:
    """A venv with the apps' requirements and honcho (a developer tool, not a dependency)."""
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    except subprocess.CalledProcessError as error:
        missing(f"{sys.executable} cannot create a venv with pip (on Debian: apt install "
                f"python3-venv): {error}")
    python = path / "bin" / "python"
    args = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "honcho"]
    for requirements in requirement_files:
        args += ["-r", str(requirements)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode:
        if "No matching distribution" in done.stderr or "Could not find" in done.stderr:
            missing(f"cannot install the generated requirements from PyPI:\n{done.stderr}")
        raise RuntimeError(f"pip install failed:\n{done.stdout}{done.stderr}")
    return path


def venv_env(venv_dir: Path, home: Path, **values: str | None) -> dict[str, str]:
    env = boot_env(home, **values)
    env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv_dir)
    return env

