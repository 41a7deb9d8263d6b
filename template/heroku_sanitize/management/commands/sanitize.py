"""`python manage.py sanitize`: scrub personal data on staging, on Django's own connection
(or on $SANITIZE_DATABASE_URL when that names another database)."""

import argparse
import os
import sys

from django.core.management.base import BaseCommand
from django.db import connection

from heroku_sanitize import cli


class Command(BaseCommand):
    help = ("Scrub personal data from this (non-production) database in place, following "
            "config/sanitize.yml, in one transaction.")

    def add_arguments(self, parser):
        cli.add_arguments(parser)

    def handle(self, *args, **options):
        namespace = argparse.Namespace(**{key: options[key] for key in (
            "rules", "database_url", "mode", "allow_uncovered", "dry_run", "catalog")})
        own_database = namespace.database_url or namespace.catalog or os.environ.get(
            "SANITIZE_DATABASE_URL")
        if not own_database:
            try:
                connection.ensure_connection()
            except Exception as error:  # noqa: BLE001 -- one sentence, not a traceback
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                sys.stderr.write(f"sanitize: cannot connect to the database: {first}; "
                                 "nothing was changed.\n")
                sys.exit(1)
        status = cli.execute(namespace,
                             connection=None if own_database else connection.connection)
        if status:
            # cli.execute printed the one sentence; the status is the whole answer.
            sys.exit(status)
