"""Runs a generated app's bin/heroku-* scripts against the stateful stand-in
(tests/fakes/heroku), seeds and reads its world, and injects faults.

The stand-in answers as Heroku would from a JSON world; this module is how tests start
from a given world (`seed`), run a script (`run`), read what it recorded (`calls`,
`world`) and make a call fail, hang, lie or be interrupted (`run(..., fault="7:INT")`).
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import signal
import socketserver
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from helpers.paths import TESTS

FAKES = TESTS / "fakes"
STAGING, PRODUCTION = "demo-shop-staging", "demo-shop"
HEROKU_CLI_DIR = Path(os.environ.get(
    "HEROKU_CLI_DIR", Path.home() / ".cache" / "copier-heroku" / "heroku-cli"))
SCRIPTS = ("heroku-setup", "heroku-addons", "heroku-config-pull", "heroku-deploy",
           "heroku-mirror-db")
# Commands that only read: a second setup may run these and nothing else.
READ_ONLY = {"auth:whoami", "auth:token", "apps:info", "addons", "config", "config:get", "pipelines:info",
             "pg:backups:schedules", "pg:backups:info", "maintenance"}
# Commands that only read when given no arguments: `ps:scale -a APP` prints the formation.
READ_ONLY_WITHOUT_ARGS = {"ps:scale"}
# A database of 50 MB, as seeded apps hold.
SEED_BYTES = 50 * 1024 * 1024


def reads_only(manifest, argv: list[str]) -> bool:
    if argv[0] == "<api>":  # a Platform API request: ["<api>", METHOD, PATH, names...]
        return argv[1] == "GET"
    command = manifest.resolve(argv[0])
    return command in READ_ONLY or (command in READ_ONLY_WITHOUT_ARGS
                                    and not manifest.parse(argv).args)


def cli_errors(manifest, calls: list[list[str]]) -> list[str]:
    """Why each logged heroku line would be refused by the real CLI (API requests, which
    are no CLI lines, left out)."""
    return [f"heroku {shlex.join(argv)}: {manifest.error(argv)}" for argv in calls
            if argv[0] != "<api>" and manifest.error(argv)]


def printed_heroku_lines(output: str) -> list[list[str]]:
    """The heroku command lines a --dry-run printed, as argv lists (after `heroku`)."""
    return [shlex.split(line[len("+ heroku "):]) for line in output.splitlines()
            if line.startswith("+ heroku ")]


# The client every `heroku` call runs: bash only (no fork), it hands its words, folder and
# HEROKU_FAKE_* settings to the server below and prints what it answers.
CLIENT = r"""#!/bin/bash
exec 3<>/dev/tcp/127.0.0.1/@PORT@ || exit 99
printf '%s\0' "$#" "$$" "$PWD" "${HEROKU_FAKE_STATE:-}" "${HEROKU_FAKE_LOG:-}" \
  "${HEROKU_FAKE_COUNTER:-}" "${HEROKU_FAKE_FAULT:-}" "${HEROKU_FAKE_FAIL:-}" "$@" >&3
LC_ALL=C
read -r status after outlen errlen <&3 || exit 98
out="" err=""
if ((outlen)); then IFS= read -r -d '' -N "$outlen" out <&3; fi
if ((errlen)); then IFS= read -r -d '' -N "$errlen" err <&3; fi
exec 3>&-
printf '%s' "$out"
printf '%s' "$err" >&2
case $after in
  hang) exec sleep 3600 ;;
  wait) exec sleep 30 ;;
esac
exit "$status"
"""
SETTINGS = ("HEROKU_FAKE_STATE", "HEROKU_FAKE_LOG", "HEROKU_FAKE_COUNTER", "HEROKU_FAKE_FAULT",
            "HEROKU_FAKE_FAIL")


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        tokens: list[bytes] = []
        buffer = b""
        while True:
            while b"\0" in buffer:
                token, buffer = buffer.split(b"\0", 1)
                tokens.append(token)
            if tokens and len(tokens) >= 7 + int(tokens[0]) + 1:
                break
            chunk = self.request.recv(65536)
            if not chunk:
                return
            buffer += chunk
        words = [t.decode() for t in tokens]
        argc, pid, cwd, settings = int(words[0]), int(words[1]), words[2], words[3:8]
        env = {k: v for k, v in zip(SETTINGS, settings) if v}
        with _Server.lock:
            reply = _Server.world.respond(words[8:8 + argc], env, cwd, pid, _Server.cli)
        out, err = reply.out.encode(), reply.err.encode()
        self.wfile.write(f"{reply.status} {reply.after or '-'} {len(out)} {len(err)}\n"
                         .encode() + out + err)


class _Api(http.server.BaseHTTPRequestHandler):
    """The Platform API stand-in, for the requests the scripts send with curl."""

    def do_PATCH(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _Server.lock:
            status, text, after = _Server.world.api_respond(
                "PATCH", self.path, dict(self.headers), body)
        if after == "hang":
            import time

            time.sleep(30)
            return
        if after == "drop":
            self.close_connection = True
            return
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


class _Server:
    """One stand-in server per test process, the manifest loaded once; and the Platform
    API stand-in next to it."""

    lock = threading.Lock()
    port = 0
    api = ""
    world: Any = None
    cli: Any = None

    @classmethod
    def start(cls) -> int:
        with cls.lock:
            if not cls.port:
                sys.path.insert(0, str(FAKES))
                import heroku_world

                cls.world = heroku_world
                cls.cli = heroku_world.manifest(str(HEROKU_CLI_DIR))
                server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
                server.daemon_threads = True
                threading.Thread(target=server.serve_forever, daemon=True).start()
                api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
                api.daemon_threads = True
                threading.Thread(target=api.serve_forever, daemon=True).start()
                cls.api = f"http://127.0.0.1:{api.server_address[1]}"
                cls.port = server.server_address[1]
        return cls.port


def launcher(directory: Path) -> Path:
    """A folder with the `heroku` client in it, for PATH: a call then costs a bash start
    and a round trip to the server, a few milliseconds, which the fault tests (thousands
    of calls) need. tests/fakes/heroku is the same stand-in as a program of its own."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "heroku"
    path.write_text(CLIENT.replace("@PORT@", str(_Server.start())))
    path.chmod(0o755)
    return directory


class Heroku:
    """Runs the app's scripts with the stand-in first on PATH, and reads what it recorded."""

    def __init__(self, app: Path, tmp: Path):
        self.app = app
        self.tmp = tmp
        self.log = tmp / "heroku-calls.jsonl"
        self.state = tmp / "heroku-state.json"
        self.counter = tmp / "heroku-counter"
        bin_dir = launcher(tmp / "standin-bin")
        self.command = str(bin_dir / "heroku")
        self.env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                    "HEROKU_FAKE_LOG": str(self.log), "HEROKU_FAKE_STATE": str(self.state),
                    "HEROKU_FAKE_COUNTER": str(self.counter),
                    "HEROKU_HOST": _Server.api,
                    "HEROKU_CLI_DIR": str(HEROKU_CLI_DIR)}
        for name in ("HEROKU_FAKE_FAIL", "HEROKU_FAKE_FAULT", "HEROKU_APP",
                     "HEROKU_CALL_TIMEOUT", "HEROKU_WAIT_TIMEOUT"):
            self.env.pop(name, None)

    def run(self, script: str, *args: str, fail: str = "", fault: str = "",
            env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """Runs bin/SCRIPT in its own session, as a terminal or CI would start it, so that
        a signal the stand-in sends reaches the script's whole process group."""
        run_env = {**self.env, **(env or {})}
        if fail:
            run_env["HEROKU_FAKE_FAIL"] = fail
        if fault:
            run_env["HEROKU_FAKE_FAULT"] = fault
        self.counter.unlink(missing_ok=True)
        process = subprocess.Popen([str(self.app / "bin" / script), *args], cwd=self.app,
                                   env=run_env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            raise AssertionError(f"bin/{script} {args} still ran after {timeout}s:\n{stderr}")
        finally:
            # Nothing the script started may outlive it (a hung call it failed to end).
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def count(self) -> int:
        """How many heroku calls the last run made."""
        return int(self.counter.read_text() or 0) if self.counter.exists() else 0

    def forget_calls(self) -> None:
        self.log.unlink(missing_ok=True)

    def world(self) -> dict[str, Any]:
        return json.loads(self.state.read_text())

    def save(self, world: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(world, indent=1))

    def seed(self, apps: dict[str, dict[str, Any]], pipelines: dict | None = None) -> None:
        """Start from apps that exist already. Each gets a Postgres database attached as
        DATABASE holding its own rows, unless `addons` lists the services it has instead;
        `database` overrides fields of that database's data (holds, bytes, ...)."""
        world: dict[str, Any] = {"apps": {}, "addons": {}, "pipelines": pipelines or {},
                                 "logged_in": True, "violations": [], "serial": 100}
        for name, extra in apps.items():
            extra = dict(extra)
            services = extra.pop("addons", None)
            data = extra.pop("database", {})
            plan = extra.pop("database_plan", "heroku-postgresql:essential-0")
            world["apps"][name] = {
                "id": f"id-{name}", "region": "us", "team": None, "config": {},
                "maintenance": False, "formation": {}, "schedules": [], "backups": [],
                "runs": [], "promotions": [], **extra}
            for service in (["heroku-postgresql"] if services is None else services):
                add_addon(world, name, service, plan if service == "heroku-postgresql"
                          else None, data)
        self.save(world)


def add_addon(world: dict, app: str, service: str, plan: str | None = None,
              data: dict | None = None) -> str:
    """An add-on as the stand-in would have created it, attached under its usual name."""
    world["serial"] = world.get("serial", 100) + 1
    short = "postgresql" if service == "heroku-postgresql" else service
    name = f"{short}-seed-{world['serial']}"
    plan = plan or f"{service}:default"
    addon: dict[str, Any] = {"service": service, "plan": plan, "app": app, "attachments": []}
    config = world["apps"][app]["config"]
    if service == "heroku-postgresql":
        addon["data"] = {"holds": app, "sanitized": False, "migrated": True,
                         "bytes": SEED_BYTES, **(data or {})}
        attachment = "DATABASE"
    elif service == "heroku-redis":
        attachment = "REDIS"
    else:
        attachment = service.upper()
    addon["attachments"].append({"app": app, "name": attachment})
    if service in ("heroku-postgresql", "heroku-redis"):
        scheme = "postgres" if service == "heroku-postgresql" else "rediss"
        config.setdefault(f"{attachment}_URL", f"{scheme}://user:secret@{name}.fake:5432/"
                                               f"{name.replace('-', '_')}")
    for var in {"newrelic": ["NEW_RELIC_LICENSE_KEY"], "papertrail": ["PAPERTRAIL_API_TOKEN"],
                "judoscale": ["JUDOSCALE_URL"]}.get(service, []):
        config.setdefault(var, f"{service}-credential-{name}")
    world["addons"][name] = addon
    return name


# --------------------------------------------------------------------------- reading it


def services(world: dict, app: str) -> list[str]:
    """The add-on services an app has, one entry per add-on."""
    return sorted(a["service"] for a in world["addons"].values()
                  if a["app"] == app or any(t["app"] == app for t in a["attachments"]))


def serving_database(world: dict, app: str) -> dict | None:
    """The add-on attached to an app as DATABASE, with its name under `name`."""
    for name, addon in world["addons"].items():
        if any(t["app"] == app and t["name"] == "DATABASE" for t in addon["attachments"]):
            return {"name": name, **addon}
    return None


def attachments(world: dict, app: str) -> list[str]:
    return sorted(t["name"] for a in world["addons"].values() for t in a["attachments"]
                  if t["app"] == app)
