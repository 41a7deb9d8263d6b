"""Sanitize throughput against the one-transaction UPDATE floor (a benchmark, not a test).

    python3 bench/sanitize_bench.py [--rows 1000000] [--rounds 3] [--loop-rows 20000]
                                    [--database-url URL] [--no-ruby] [--only multi|single]

Two fixtures, each rebuilt before every timed run:
  multi   users (--rows, a unique index on email), orders (30%) and addresses (20%) of
          them, both with personal columns and a foreign key to users;
  single  users alone, as in earlier releases of this benchmark.
Timed, in the same run and on the same server:
  floor          the hand-written UPDATEs of the same columns, one per table, in one
                 transaction (what a careful team writes by hand);
  ENGINE MODE    each engine as a command (start-up included): python or ruby, online
                 (UPDATE in place, the default) or offline (tables rewritten whole, for the
                 mirror's database that nobody serves);
  loop           a row-by-row UPDATE loop in autocommit on --loop-rows rows of the single
                 fixture, extrapolated per row to the whole table.
Each variant runs --rounds times, the order rotating between rounds; the median counts and
ratios are to the floor's median. Target: offline <= 0.6 x the floor on the multi fixture.

Without --database-url it starts its own PostgreSQL 15 with default durability settings
(fsync and synchronous commit on), as the tests' fixture does but durable.
"""

from __future__ import annotations

import argparse
import contextlib
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

USERS = ("CREATE TABLE users (id bigserial PRIMARY KEY, email varchar NOT NULL UNIQUE, "
         "name text, phone text, address text)")
FILL_USERS = """INSERT INTO users
    SELECT g, 'person' || g || '@mail.example.com', 'Person Number ' || g,
           CASE WHEN g % 10 = 0 THEN NULL ELSE '+44 20 7946 ' || g END,
           g || ' High Street, Springfield'
    FROM generate_series(1, {rows}) g"""
MULTI = [
    """CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users,
       customer_email text, shipping_address text, total numeric NOT NULL)""",
    """INSERT INTO orders SELECT g, 1 + (g * 7) % {rows}, 'buyer' || g || '@mail.example.com',
       g || ' Market Road', g % 100 FROM generate_series(1, {orders}) g""",
    """CREATE TABLE addresses (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users,
       street text, city text, postal_code text, phone text)""",
    """INSERT INTO addresses SELECT g, 1 + (g * 13) % {rows}, g || ' Elm Street', 'Leeds',
       'LS' || (g % 30) || ' ' || (g % 9) || 'AB', '0113 496 ' || g
       FROM generate_series(1, {addresses}) g""",
    "CREATE INDEX ON orders (user_id)",
    "CREATE INDEX ON addresses (user_id)",
]
USERS_RULES = """\
    columns:
      email: email
      name: name
      phone: phone
      address: address
"""
RULES = {
    "single": "tables:\n  users:\n" + USERS_RULES,
    "multi": "tables:\n  users:\n" + USERS_RULES + """\
  orders:
    columns:
      customer_email: email
      shipping_address: address
  addresses:
    columns:
      street: address
      city: {constant: Springfield}
      postal_code: {constant: "00000"}
      phone: phone
""",
}
FLOOR_USERS = ("UPDATE users SET email = 'user' || id || '@example.invalid', "
               "name = 'User ' || id, phone = '555-' || id, address = id || ' Example Street'")
FLOOR_ORDERS = ("UPDATE orders SET customer_email = 'user' || id || '@example.invalid', "
                "shipping_address = id || ' Example Street'")
FLOOR_ADDRESSES = ("UPDATE addresses SET street = id || ' Example Street', "
                   "city = 'Springfield', postal_code = '00000', phone = '555-' || id")
FLOOR = {"single": [FLOOR_USERS], "multi": [FLOOR_USERS, FLOOR_ORDERS, FLOOR_ADDRESSES]}


def build(conn, fixture: str, rows: int) -> None:
    conn.execute("DROP TABLE IF EXISTS addresses, orders, users")
    conn.execute(USERS)
    conn.execute(FILL_USERS.format(rows=rows))
    if fixture == "multi":
        for statement in MULTI:
            conn.execute(statement.format(rows=rows, orders=rows * 3 // 10,
                                          addresses=rows // 5))
    conn.execute("VACUUM ANALYZE")
    conn.execute("CHECKPOINT")


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def run_floor(url: str, fixture: str) -> float:
    import psycopg

    def go():
        with psycopg.connect(url) as conn:
            for statement in FLOOR[fixture]:
                conn.execute(statement)
            conn.commit()

    return timed(go)


def run_engine(url: str, engine: str, mode: str, rules: Path, package_parent: Path) -> float:
    cmd = ([sys.executable, "-m", "heroku_sanitize"] if engine == "python"
           else ["ruby", str(RUBY_ENGINE)])
    env = {**os.environ, "APP_STAGE": "development", "PYTHONPATH": str(package_parent),
           "SANITIZE_MODE": mode}
    result = None

    def go():
        nonlocal result
        result = subprocess.run([*cmd, "--database-url", url, "--rules", str(rules)],
                                capture_output=True, text=True, env=env, check=False)

    seconds = timed(go)
    if result.returncode:
        raise SystemExit(f"{engine} {mode} failed: {result.stderr}")
    print("    " + result.stdout.strip().replace("\n", "\n    "), flush=True)
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


def measure(url: str, fixture: str, args, folder: Path) -> dict[str, list[float]]:
    import psycopg

    rules = folder / f"{fixture}.yml"
    rules.write_text(RULES[fixture])
    engines = [] if args.no_ruby else ["ruby"]
    variants = ["floor"] + [f"{e} {m}" for m in ("offline", "online")
                            for e in ["python", *engines]]
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(1, args.rounds + 1):
        # Rotate the order, so no variant always runs right after the same neighbour.
        shift = (round_ - 1) % len(variants)
        for name in variants[shift:] + variants[:shift]:
            with psycopg.connect(url, autocommit=True) as conn:
                build(conn, fixture, args.rows)
            print(f"{fixture} round {round_}: {name}", flush=True)
            if name == "floor":
                seconds = run_floor(url, fixture)
            else:
                engine, mode = name.split()
                seconds = run_engine(url, engine, mode, rules, folder)
            print(f"    {seconds:.2f}s", flush=True)
            times[name].append(seconds)
    return times


def report(fixture: str, rows: int, times: dict[str, list[float]],
           loop: float | None = None) -> None:
    median = {name: statistics.median(values) for name, values in times.items()}
    floor = median["floor"]
    size = (f"{rows:,} users, {rows * 3 // 10:,} orders, {rows // 5:,} addresses"
            if fixture == "multi" else f"{rows:,} users")
    print(f"\n{fixture}: {size}; median of {len(times['floor'])} runs")
    for name, value in median.items():
        runs = ", ".join(f"{v:.2f}" for v in times[name])
        ratio = value / floor
        target = " (target <= 0.60)" if name.endswith("offline") else ""
        extra = f", {loop / value:.0f} x faster than the loop" if loop else ""
        print(f"  {name:<16} {value:7.2f}s  {ratio:.2f} x floor{target}{extra}   [{runs}]")
    if loop:
        print(f"  {'row-by-row loop':<16} {loop:7.2f}s  extrapolated")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each variant; the median counts")
    parser.add_argument("--loop-rows", type=int, default=20_000)
    parser.add_argument("--database-url", help="an existing server's admin URL (a database "
                                               "sanitize_bench is created on it)")
    parser.add_argument("--no-ruby", action="store_true")
    parser.add_argument("--only", choices=["multi", "single"])
    args = parser.parse_args()

    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="sanitize-bench-"))
    (folder / "heroku_sanitize").symlink_to(PACKAGE, target_is_directory=True)
    results = {}
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
        fixtures = [args.only] if args.only else ["multi", "single"]
        for fixture in fixtures:
            results[fixture] = measure(url, fixture, args, folder)
        loop = None
        if "single" in fixtures and args.loop_rows:
            with psycopg.connect(url, autocommit=True) as conn:
                build(conn, "single", args.rows)
            per_row = run_loop(url, args.loop_rows)
            loop = per_row * args.rows
            print(f"loop: {per_row * 1e6:.0f} us a row on {args.loop_rows:,} rows")

    for fixture, times in results.items():
        report(fixture, args.rows, times, loop if fixture == "single" else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
