"""Time to first HTTP 200 for every stack and server, under foreman or honcho.

    python3 bench/boot_bench.py [--runs 5] [--json]

Heroku stops a web dyno that has not bound $PORT within 60 s of starting, so the number
that matters is the boot time as a share of that limit. Each case boots the generated app
the way tests/test_boot.py does (the same apps, a real PostgreSQL, a network namespace of
its own per boot) `--runs` times and reports the median, the fastest and the slowest run.
Time is measured from starting the process manager to the first 200, polled every 50 ms.

Needs what the boot tests need: Debian's Rails packages, foreman, PostgreSQL 15, unshare
and ip, and PyPI for the Django and Flask venvs. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT), str(ROOT / "extensions")]

from helpers.boot_apps import (
    DATABASE_ROUTE,
    PORT,
    ROUTER_HEADERS,
    boot,
    boot_env,
    build_python_app,
    build_rails_app,
    heroku_config,
    make_venv,
    new_secret,
    rails,
    venv_env,
)
from helpers.postgres import create_database, running_server
from support.boot_probe import HEROKU_BOOT_TIMEOUT

NO_ENV_FILE = ["-e", "/dev/null"]  # production: Heroku never sees the gitignored .env


def rails_cases(work: Path, server_url: str, src: Path):
    """(stack, server, how it starts, app, command, env, path, headers, database_url)"""
    # The boot tests' two apps: production puma with dev thin, production unicorn with dev puma.
    for web_server, dev_server in (("puma", "thin"), ("unicorn", "puma")):
        app = build_rails_app(work / f"rails-{web_server}", web_server=web_server,
                              dev_server=dev_server, src=src)
        database_url = create_database(server_url)
        home = app.parent / "home"
        dev = boot_env(home, DATABASE_URL=database_url)
        prod = boot_env(home, **heroku_config(app), APP_STAGE="production",
                        SECRET_KEY_BASE=new_secret(), DATABASE_URL=database_url)
        migrated = rails(app, prod, "db:migrate")
        if migrated.returncode:
            raise RuntimeError(f"db:migrate failed:\n{migrated.stderr}")
        yield ("rails", web_server, "foreman start web (Procfile)", app,
               ["foreman", "start", "web", *NO_ENV_FILE, "-p", str(PORT)], prod,
               DATABASE_ROUTE, ROUTER_HEADERS, database_url)
        yield ("rails", dev_server, "foreman start -f Procfile.dev", app,
               ["foreman", "start", "-f", "Procfile.dev", "-p", str(PORT)], dev,
               DATABASE_ROUTE, {}, database_url)


def python_cases(work: Path, server_url: str, src: Path):
    for stack, dev_server in (("django", "runserver"), ("flask", "flask run")):
        app = build_python_app(work / stack, stack=stack, addons=["heroku-postgresql"],
                               src=src)
        venv_dir = make_venv(work / f"venv-{stack}", [app / "requirements.txt"])
        honcho = str(venv_dir / "bin" / "honcho")
        database_url = create_database(server_url)
        home = app.parent / "home"
        prod = venv_env(venv_dir, home, **heroku_config(app), APP_STAGE="production",
                        SECRET_KEY=new_secret(), DATABASE_URL=database_url)
        yield (stack, "gunicorn", "honcho start web (Procfile)", app,
               [honcho, "start", "web", *NO_ENV_FILE, "-p", str(PORT)], prod, "/health",
               ROUTER_HEADERS, database_url)
        yield (stack, dev_server, "honcho start -f Procfile.dev", app,
               [honcho, "start", "-f", "Procfile.dev", "-p", str(PORT)],
               venv_env(venv_dir, home), "/health", {}, None)


def measure(runs: int, stacks: list[str]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="boot-bench-") as tmp, \
            running_server() as server_url:
        work = Path(tmp)
        # The committed template, not the working tree's edits in progress.
        src = work / "template"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(src)], check=True)
        cases = []
        if "rails" in stacks:
            cases += list(rails_cases(work, server_url, src))
        if {"django", "flask"} & set(stacks):
            cases += [case for case in python_cases(work, server_url, src)
                      if case[0] in stacks]
        for stack, server, how, app, command, env, path, headers, database_url in cases:
            times, failures = [], []
            for _ in range(runs):
                report = boot(app, command, env, path=path, headers=headers,
                              database_url=database_url)
                if report["status"] == 200 and not report["left_running"]:
                    times.append(report["seconds"])
                else:
                    failures.append(f"status={report['status']} {report['output'][-500:]}")
                time.sleep(0.2)
            median = statistics.median(times) if times else None
            rows.append({
                "stack": stack, "server": server, "started_by": how, "runs": runs,
                "median_s": median, "min_s": min(times, default=None),
                "max_s": max(times, default=None),
                "share_of_heroku_limit": round(median / HEROKU_BOOT_TIMEOUT, 4)
                if median else None,
                "failures": failures,
            })
            print(f"{stack:7} {server:10} median {median}s over {len(times)}/{runs} runs",
                  file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| Stack | Server | Started by | Median to first 200 | Min-max | Of Heroku's 60 s |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        if row["median_s"] is None:
            lines.append(f"| {row['stack']} | {row['server']} | `{row['started_by']}` | "
                         f"failed | | |")
            continue
        lines.append(f"| {row['stack']} | {row['server']} | `{row['started_by']}` | "
                     f"{row['median_s']:.2f} s | {row['min_s']:.2f}-{row['max_s']:.2f} s | "
                     f"{row['share_of_heroku_limit']:.1%} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stacks", default="rails,django,flask",
                        help="comma-separated subset of rails,django,flask")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    # Builds print progress (copier's tasks, pip) on fd 1: keep stdout for the results.
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        rows = measure(args.runs, args.stacks.split(","))
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 1 if any(row["failures"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
