"""A Redis that answers as Heroku Redis does: TLS only (rediss://), a self-signed
certificate; and the worker runs that read its smoke job's key from it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from helpers.tools import require_tool, stop_group

SMOKE_KEY = "smoke:ran_at"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def heroku_style_redis() -> Iterator[tuple[str, list[str]]]:
    """Debian's redis-server on 127.0.0.1, TLS only with a self-signed certificate, as
    Heroku Redis serves it; no persistence; a non-root process when the tests run as root.
    Yields (REDIS_URL, redis-cli argv)."""
    server = require_tool("redis-server")
    cli = require_tool("redis-cli")
    openssl = require_tool("openssl")
    # Not under pytest's folder: that is private to the user running the tests.
    work = Path(tempfile.mkdtemp(prefix="copier-heroku-redis-"))
    cert, key = work / "redis.crt", work / "redis.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=heroku-redis.invalid", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    port = free_port()
    drop = []
    if os.geteuid() == 0:
        drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        shutil.chown(work, "nobody", "nogroup")
        for path in (cert, key):
            shutil.chown(path, "nobody", "nogroup")
    process = subprocess.Popen(
        [*drop, server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    redis_cli = [cli, "--tls", "--insecure", "-h", "127.0.0.1", "-p", str(port)]
    try:
        for _ in range(100):
            if process.poll() is not None:
                raise RuntimeError(f"redis-server stopped: {process.stdout.read()}")
            ping = subprocess.run([*redis_cli, "PING"], capture_output=True, text=True)
            if ping.stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("redis-server did not answer PING over TLS")
        yield f"rediss://127.0.0.1:{port}/0", redis_cli
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)



def redis_get(redis_cli: list[str], key: str) -> str:
    return subprocess.run([*redis_cli, "GET", key], capture_output=True, text=True,
                          check=True).stdout.strip()


def run_worker_until_smoke(app: Path, manager: list[str], enqueue: list[str],
                           env: dict[str, str], redis_cli: list[str],
                           timeout: float = 90) -> str:
    """Start the Procfile.dev worker under its process manager, enqueue the smoke job, wait
    for its key in Redis; stop the manager's process group by its PID. Returns the log."""
    subprocess.run([*redis_cli, "DEL", SMOKE_KEY], check=True, capture_output=True)
    log = app.parent / "worker.log"
    with open(log, "w") as out:
        process = subprocess.Popen(manager, cwd=app, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        enqueued = subprocess.run(enqueue, cwd=app, env=env, capture_output=True, text=True,
                                  timeout=120)
        assert enqueued.returncode == 0, enqueued.stdout + enqueued.stderr
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not redis_get(redis_cli, SMOKE_KEY):
            assert process.poll() is None, f"the worker stopped:\n{log.read_text()}"
            time.sleep(0.25)
        assert redis_get(redis_cli, SMOKE_KEY), f"the smoke job never ran:\n{log.read_text()}"
    finally:
        stop_group(process, 20)
    return log.read_text()
