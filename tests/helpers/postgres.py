"""A real PostgreSQL 15 server for the tests and benchmarks, started and stopped by them.

`running_server()` yields the server's admin URL (postgres user, 127.0.0.1, a free port);
conftest.py's fixtures `postgres_server` (one per session) and `database_url` (a fresh,
empty database per test) use it, and bench/ calls it directly. `create_database(server_url)`
makes another database when a test needs two. The server runs as the `postgres` OS user when the
tests run as root (initdb refuses root), with its data and socket in a temp directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from helpers.tools import missing

PG_VERSION = "15"


def _bindir() -> Path:
    """PG_BINDIR when set (and then only it), else Debian's folder, else pg_ctl on PATH."""
    chosen = os.environ.get("PG_BINDIR")
    for candidate in ([chosen] if chosen else [f"/usr/lib/postgresql/{PG_VERSION}/bin"]):
        if (Path(candidate) / "postgres").exists():
            return Path(candidate)
    found = None if chosen else shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    missing(f"PostgreSQL {PG_VERSION} server binaries (initdb, pg_ctl, postgres) are not "
            "installed (apt install postgresql-15)")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user() -> list[str]:
    """A prefix that runs a command as a non-root user (postgres) when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("running as root and there is no `postgres` OS user to run the server as")
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--"]
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]


def _psycopg():
    try:
        import psycopg
    except ImportError:
        missing("the Python package psycopg (3) is not installed (pip install 'psycopg[binary]')")
    return psycopg


# Tests need no durability; the benchmark passes durable=True to measure what servers do.
FAST_SETTINGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


@contextlib.contextmanager
def running_server(durable: bool = False, settings: str = "") -> Iterator[str]:
    """Start PostgreSQL on 127.0.0.1 and a free port; yield its admin URL; stop it."""
    bindir = _bindir()
    psycopg = _psycopg()
    prefix = _as_server_user()
    # Not under pytest's tmp dir: that one is private to root, the server user can't enter.
    base = Path(tempfile.mkdtemp(prefix="copier-heroku-pg-"))
    data = base / "data"
    if prefix:
        entry = pwd.getpwnam("postgres")
        os.chown(base, entry.pw_uid, entry.pw_gid)
    init = subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                           "-A", "trust", "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync"],
                          capture_output=True, text=True, check=False)
    if init.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stdout}{init.stderr}")
    port = _free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} "
               f"{'' if durable else FAST_SETTINGS} {settings}")
    log = base / "server.log"
    start = subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                            "-l", str(log), "-w", "-t", "60", "start"],
                           capture_output=True, text=True, check=False)
    if start.returncode:
        raise RuntimeError(f"PostgreSQL did not start: {start.stderr}\n"
                           f"{log.read_text() if log.exists() else ''}")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "-w", "stop"], capture_output=True, text=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def create_database(server_url: str, name: str | None = None) -> str:
    """Create an empty database on the server; return its URL."""
    psycopg = _psycopg()
    name = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))
