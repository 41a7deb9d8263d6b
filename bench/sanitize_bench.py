"""Sanitize throughput on a 1,000,000-row users table (a benchmark, not a test).

    python3 bench/sanitize_bench.py [--rows 1000000] [--loop-rows 20000] [--rounds 2]
                                    [--database-url URL] [--no-ruby]

Times, on the same freshly built table each time:
  floor   one hand-written set-based UPDATE of email, name, phone and address;
  python  the Python engine (heroku_sanitize.run: counts, UPDATE, verification, commit);
  ruby    the Ruby engine (lib/heroku_sanitize.rb as a command, Ruby start-up included);
  loop    a row-by-row UPDATE loop in autocommit, the usual hand-written task, run on a
          sample of --loop-rows rows and extrapolated per row to the whole table.
The median of --rounds runs counts (a shared disk makes single runs noisy).
Targets: engine <= 1.25 x floor, engine >= 30 x faster than the loop.

Without --database-url it starts its own PostgreSQL 15 with default durability settings
(fsync and synchronous commit on), as the tests' fixture does but durable.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
PACKAGE = ROOT / "template" / "heroku_sanitize"
RUBY_ENGINE = ROOT / "template" / "lib" / "heroku_sanitize.rb"

RULES = """\
tables:
  users:
    columns:
      email: email
      name: name
      phone: phone
      address: address
  bench.users_source:  # the pristine copy each run starts from
    columns: {email: keep, name: keep, phone: keep, address: keep}
"""
FLOOR_SQL = ("UPDATE users SET email = 'user' || id || '@example.invalid', "
             "name = 'User ' || id, phone = '555-' || id, address = id || ' Example Street'")


def build(conn, rows: int) -> None:
    """users from a prebuilt source table, so every run starts from the same state."""
    conn.execute("DROP TABLE IF EXISTS users")
    conn.execute("""CREATE TABLE users (id bigserial PRIMARY KEY, email varchar NOT NULL UNIQUE,
                    name text, phone text, address text)""")
    conn.execute("INSERT INTO users SELECT * FROM bench.users_source")
    conn.execute("VACUUM ANALYZE users")
    conn.execute("CHECKPOINT")


def prepare_source(conn, rows: int) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
    conn.execute("DROP TABLE IF EXISTS bench.users_source")
    conn.execute(f"""CREATE TABLE bench.users_source AS
        SELECT g::bigint AS id, 'person' || g || '@mail.example.com' AS email,
               'Person Number ' || g AS name,
               CASE WHEN g % 10 = 0 THEN NULL ELSE '+44 20 7946 ' || g END AS phone,
               g || ' High Street, Springfield' AS address
        FROM generate_series(1, {rows}) g""")


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def run_floor(url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        seconds = timed(lambda: (conn.execute(FLOOR_SQL), conn.commit()))
    return seconds


def run_python(url: str, rules_path: Path) -> float:
    import psycopg

    sys.path.insert(0, str(_package_parent()))
    from heroku_sanitize import engine

    rules = engine.load_rules(str(rules_path))
    out = io.StringIO()
    with psycopg.connect(url) as conn:
        seconds = timed(lambda: engine.run(conn, rules, out=out,
                                           env={"APP_STAGE": "development"}))
    print("    " + out.getvalue().strip().replace("\n", "\n    "))
    return seconds


def run_ruby(url: str, rules_path: Path) -> float:
    env = {**os.environ, "APP_STAGE": "development"}
    result = None

    def go():
        nonlocal result
        result = subprocess.run(["ruby", str(RUBY_ENGINE), "--database-url", url, "--rules",
                                 str(rules_path)], capture_output=True, text=True, env=env,
                                check=False)

    seconds = timed(go)
    if result.returncode:
        raise SystemExit(f"ruby engine failed: {result.stderr}")
    print("    " + result.stdout.strip().replace("\n", "\n    "))
    return seconds


def run_loop(url: str, sample: int) -> float:
    """Row by row in autocommit: read ids, one UPDATE per row. Seconds per row."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM users ORDER BY id LIMIT %s", (sample,)).fetchall()]
        began = time.perf_counter()
        for user_id in ids:
            conn.execute("UPDATE users SET email = %s, name = %s, phone = %s, address = %s "
                         "WHERE id = %s",
                         (f"user{user_id}@example.invalid", f"User {user_id}",
                          f"555-{user_id}", f"{user_id} Example Street", user_id))
        return (time.perf_counter() - began) / len(ids)


_parent: Path | None = None


def _package_parent() -> Path:
    """A folder where the template's package imports as `heroku_sanitize`."""
    global _parent
    if _parent is None:
        _parent = Path(tempfile.mkdtemp(prefix="sanitize-bench-"))
        (_parent / "heroku_sanitize").symlink_to(PACKAGE, target_is_directory=True)
    return _parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5,
                        help="runs of each set-based variant; the median counts")
    parser.add_argument("--database-url", help="an existing server's admin URL (a database "
                                               "sanitize_bench is created on it)")
    parser.add_argument("--no-ruby", action="store_true")
    args = parser.parse_args()

    import psycopg

    with contextlib.ExitStack() as stack:
        server = args.database_url
        if not server:
            from helpers.postgres import running_server

            server = stack.enter_context(running_server(durable=True,
                                                        settings="-c shared_buffers=512MB"))
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS sanitize_bench")
            conn.execute("CREATE DATABASE sanitize_bench")
        url = server.rsplit("/", 1)[0] + "/sanitize_bench"
        rules_path = Path(_package_parent()) / "sanitize.yml"
        rules_path.write_text(RULES)

        with psycopg.connect(url, autocommit=True) as conn:
            prepare_source(conn, args.rows)
        engines = ["floor", "python"] + ([] if args.no_ruby else ["ruby"])
        times: dict[str, list[float]] = {name: [] for name in engines}
        for round_ in range(1, args.rounds + 1):
            # Rotate the order, so no variant always runs right after the same neighbour.
            shift = (round_ - 1) % len(engines)
            for name in engines[shift:] + engines[:shift]:
                with psycopg.connect(url, autocommit=True) as conn:
                    build(conn, args.rows)
                print(f"round {round_}: {name}", flush=True)
                seconds = {"floor": lambda: run_floor(url),
                           "python": lambda: run_python(url, rules_path),
                           "ruby": lambda: run_ruby(url, rules_path)}[name]()
                print(f"    {seconds:.2f}s", flush=True)
                times[name].append(seconds)

        with psycopg.connect(url, autocommit=True) as conn:
            build(conn, args.rows)
        per_row = run_loop(url, args.loop_rows)
        loop = per_row * args.rows

    best = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{args.rows:,} rows, median of {args.rounds} runs (all runs: "
          + "; ".join(f"{n} {', '.join(f'{v:.2f}' for v in vs)}" for n, vs in times.items())
          + "):")
    print(f"  floor (one hand-written UPDATE)  {best['floor']:8.2f}s")
    for name in engines[1:]:
        print(f"  {name + ' engine':<32} {best[name]:8.2f}s  = {best[name] / best['floor']:.2f} x "
              f"floor (target <= 1.25), {loop / best[name]:.0f} x faster than the loop "
              "(target >= 30)")
    print(f"  row-by-row loop, autocommit      {loop:8.2f}s  extrapolated from "
          f"{args.loop_rows:,} rows at {per_row * 1e6:.0f} us/row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
