"""The command line behind `python -m heroku_sanitize` and the framework commands."""

from __future__ import annotations

import argparse
import os
import sys

from .engine import SanitizeError, connect, guard, load_rules, run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, shared by `python -m heroku_sanitize`, `flask sanitize` and Django's
    `manage.py sanitize` (whose parser is an argparse parser too)."""
    parser.add_argument("--rules", default=os.environ.get("SANITIZE_RULES",
                                                          "config/sanitize.yml"),
                        help="rules file (default: config/sanitize.yml, or $SANITIZE_RULES)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="PostgreSQL URL (default: $DATABASE_URL)")
    parser.add_argument("--allow-uncovered", action="store_true",
                        default=os.environ.get("ALLOW_UNCOVERED") == "1",
                        help="run even when personal-looking columns have no rule")
    parser.add_argument("--dry-run", action="store_true",
                        default=os.environ.get("DRY_RUN") == "1",
                        help="check the rules and print the SQL; change nothing")


def execute(args: argparse.Namespace, connection=None) -> int:
    """Sanitize with parsed options, on `connection` when the framework gives one (it is
    left open), else on a connection to --database-url."""
    try:
        guard()
        rules = load_rules(args.rules)
        if connection is not None:
            run(connection, rules, allow_uncovered=args.allow_uncovered, dry_run=args.dry_run)
            return 0
        if not args.database_url:
            raise SanitizeError("no database: pass --database-url or set DATABASE_URL")
        own = connect(args.database_url)
        try:
            run(own, rules, allow_uncovered=args.allow_uncovered, dry_run=args.dry_run)
        finally:
            own.close()
    except SanitizeError as error:
        print(f"sanitize: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sanitize",
        description="Scrub personal data from this (non-production) database in place, "
                    "following the rules file, in one transaction.")
    add_arguments(parser)
    return execute(parser.parse_args(argv))
