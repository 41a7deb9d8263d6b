"""Boot one process manager command, wait for HTTP 200, stop it, report as JSON.

    python3 boot_probe.py --cwd APP --port 5000 --path /health \\
        --header 'X-Forwarded-Proto: https' [--loopback-up] -- honcho start web

Starts the command in its own process group in APP with this process's environment,
polls http://127.0.0.1:PORT/PATH until it answers 200 (or --expect-status), the command
exits, or the timeout
(60 s by default: Heroku stops a web dyno that has not bound $PORT within 60 s) runs out.
Then it stops the process group by its PID (TERM, and KILL after a grace period), KILLs
any descendant that outlived it (foreman and honcho start their children in sessions of
their own), and checks that no process it started is still alive.

It prints one JSON object: status and body of the last answer, seconds to the first 200
(`seconds`),
the command's exit code, its output (head and tail), and what was left running.

Servers that bind 0.0.0.0 run in a network namespace of their own, so the probe runs in
it too: `unshare -n -- python3 boot_probe.py --loopback-up ...` brings up `lo` first, and
`--forward 5432=/run/pg/.s.PGSQL.5432` makes the host's PostgreSQL reachable on the
namespace's 127.0.0.1:5432 through its unix socket.
Standard library only: it also runs from bench/ and outside the test venv.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HEROKU_BOOT_TIMEOUT = 60.0


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(root: int) -> set[int]:
    tree = _children_map()
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def group_members(pgid: int, settle: float = 0.0) -> list[int]:
    """Live processes of a process group, waiting up to `settle` seconds for it to empty.

    A zombie is not counted: it has exited and only waits for its reaper, which on a busy
    machine may take a moment after its parent (the process manager) is gone, and
    `killpg(pgid, 0)` would still find it."""
    deadline = time.monotonic() + settle
    while True:
        members = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
        if not members or time.monotonic() >= deadline:
            return members
        time.sleep(0.1)


def describe(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
        return f"{pid} {cmdline.decode(errors='replace')}"
    except OSError:
        return str(pid)


def get(port: int, path: str, headers: dict[str, str], timeout: float = 5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(2000).decode(errors="replace"), \
            dict(response.getheaders())
    finally:
        conn.close()


def loopback_up() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def forward_to_unix_socket(port: int, socket_path: str) -> None:
    """Serve 127.0.0.1:PORT in this namespace by relaying to a unix socket.

    The namespace has its own loopback, so a PostgreSQL on the host's 127.0.0.1 is out of
    reach; its unix socket is not (the filesystem is shared). Relaying lets the app use the
    same postgres://127.0.0.1:PORT/... DATABASE_URL inside the namespace as outside it.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        while True:
            client, _ = listener.accept()
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(socket_path)
            except OSError:
                client.close()
                continue
            for pair in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=pair, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def probe(command: list[str], *, cwd: Path, port: int, path: str, headers: dict[str, str],
          timeout: float, grace: float, expect_status: int = 200) -> dict:
    result: dict = {"command": command, "status": None, "body": "", "headers": {},
                    "seconds": None, "error": ""}
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        seen: set[int] = set()
        try:
            while time.monotonic() - started < timeout:
                seen |= descendants(proc.pid)
                try:
                    status, body, response_headers = get(port, path, headers)
                    result.update(status=status, body=body, headers=response_headers, error="")
                    if status == expect_status:
                        result["seconds"] = round(time.monotonic() - started, 3)
                        break
                except (OSError, http.client.HTTPException) as error:
                    result["error"] = f"{type(error).__name__}: {error}"
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
        finally:
            seen |= descendants(proc.pid)
            result.update(stop(proc, seen, grace))
        log.seek(0)
        output = log.read().decode(errors="replace")
    # The head holds a boot error's message, the tail how the processes stopped.
    result["output"] = output if len(output) <= 20000 else \
        f"{output[:6000]}\n[...]\n{output[-14000:]}"
    result["port_free_after"] = port_free(port)
    return result


def stop(proc: subprocess.Popen, seen: set[int], grace: float) -> dict:
    """TERM the process group, KILL it after `grace` seconds; then KILL what outlived it."""
    exited_by_itself = proc.poll() is not None
    if not exited_by_itself:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    killed = False
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        killed = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    # What the manager should have stopped but did not: report it, then make sure of it.
    time.sleep(0.2)
    left = [describe(pid) for pid in sorted(seen) if alive(pid)]
    for pid in sorted(seen):
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    group_left = bool(group_members(proc.pid, settle=2.0))
    return {"exit_code": proc.returncode, "exited_by_itself": exited_by_itself,
            "killed_after_grace": killed, "left_running": left,
            "group_left_running": group_left, "processes_seen": len(seen)}


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cwd", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[],
                        help="'Name: value', repeatable")
    parser.add_argument("--timeout", type=float, default=HEROKU_BOOT_TIMEOUT)
    parser.add_argument("--expect-status", type=int, default=200,
                        help="the answer to wait for (a test of a refusal waits for 400)")
    parser.add_argument("--grace", type=float, default=20.0,
                        help="seconds between TERM and KILL")
    parser.add_argument("--loopback-up", action="store_true",
                        help="bring up lo first (inside `unshare -n`)")
    parser.add_argument("--forward", action="append", default=[], metavar="PORT=SOCKET",
                        help="relay 127.0.0.1:PORT to a unix socket (inside `unshare -n`)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    if args.loopback_up:
        loopback_up()
    for forward in args.forward:
        port, socket_path = forward.split("=", 1)
        forward_to_unix_socket(int(port), socket_path)
    result = probe(command, cwd=args.cwd, port=args.port, path=args.path, headers=headers,
                   timeout=args.timeout, grace=args.grace, expect_status=args.expect_status)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
