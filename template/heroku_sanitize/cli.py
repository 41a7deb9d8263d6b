"""The command line behind `python -m heroku_sanitize` and the framework commands.

The options and environment variables are those of `bin/rails db:sanitize` and
`ruby lib/heroku_sanitize.rb` in Rails apps, with the same meaning and messages.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from .engine import (
    MODES,
    SanitizeError,
    check_mode,
    compile_only,
    connect,
    database_url,
    guard,
    load_rules,
    run,
    sentence,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, shared by `python -m heroku_sanitize`, `flask sanitize` and Django's
    `manage.py sanitize` (whose parser is an argparse parser too)."""
    env = os.environ
    parser.add_argument("--rules", default=env.get("SANITIZE_RULES", "config/sanitize.yml"),
                        help="rules file (default: config/sanitize.yml, or $SANITIZE_RULES)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL, or the name of the config var that holds one "
                             "(default: $SANITIZE_DATABASE_URL, else the app's database, "
                             "$DATABASE_URL)")
    parser.add_argument("--mode", default=env.get("SANITIZE_MODE") or "online",
                        metavar="|".join(MODES),
                        help="online (default): UPDATE in place, the app may be using the "
                             "database; offline: nobody is, so tables are rewritten whole, "
                             "faster (or $SANITIZE_MODE)")
    parser.add_argument("--allow-uncovered", action="store_true",
                        default=env.get("ALLOW_UNCOVERED") == "1",
                        help="run even when personal-looking columns have no rule")
    parser.add_argument("--dry-run", action="store_true", default=env.get("DRY_RUN") == "1",
                        help="check the rules and the data, print the SQL; change nothing")
    parser.add_argument("--catalog", metavar="FILE.json",
                        help="no database: plan from saved catalog rows and print the SQL")


class Stopped(BaseException):
    """A signal ended the run; the transaction rolls back on the way out."""

    def __init__(self, name: str, status: int):
        super().__init__(name)
        self.name = name
        self.status = status


def _stop(signum, _frame):
    name = signal.Signals(signum).name
    raise Stopped(name, 128 + signum)


def execute(args: argparse.Namespace, connection=None) -> int:
    """Sanitize with parsed options, on `connection` when the framework gives one (it is
    left open) and no other database is named, else on a connection of our own.
    `connection` may be a function that returns it, called only once the guard passed."""
    env = os.environ
    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _stop)
    try:
        guard()
        mode = check_mode(args.mode)
        rules = load_rules(args.rules)
        if args.catalog:
            compile_only(rules, args.catalog, mode, args.allow_uncovered)
            return 0
        url = database_url(args.database_url or env.get("SANITIZE_DATABASE_URL"), env)
        options = {"allow_uncovered": args.allow_uncovered, "dry_run": args.dry_run,
                   "mode": mode}
        if connection is not None and not url:
            if callable(connection):
                try:
                    connection = connection()
                except Exception as error:  # noqa: BLE001 -- the framework's own errors
                    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                    raise SanitizeError(f"cannot connect to the database: {first}") from None
            run(connection, rules, **options)
            return 0
        url = url or env.get("DATABASE_URL")
        if not url:
            raise SanitizeError("no database: pass --database-url or set "
                                "SANITIZE_DATABASE_URL or DATABASE_URL")
        own = connect(url)
        try:
            run(own, rules, **options)
        finally:
            with contextlib.suppress(Exception):
                own.close()
    except SanitizeError as error:
        print(sentence(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sanitize: interrupted; nothing was changed.", file=sys.stderr)
        return 130
    except Stopped as stop:
        print(f"sanitize: stopped by {stop.name}; nothing was changed.", file=sys.stderr)
        return stop.status
    except Exception as error:  # noqa: BLE001 -- the user gets a sentence, not a traceback
        print(f"sanitize: stopped by an unexpected error ({type(error).__name__}: {error}); "
              "nothing was changed.", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sanitize",
        description="Scrub personal data from this (non-production) database in place, "
                    "following the rules file, in one transaction.")
    add_arguments(parser)
    return execute(parser.parse_args(argv))
