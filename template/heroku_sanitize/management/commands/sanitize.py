"""`python manage.py sanitize`: scrub personal data on staging, on Django's own connection
(or on $SANITIZE_DATABASE_URL when that names another database)."""

import argparse
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

        def django_connection():
            connection.ensure_connection()
            return connection.connection

        status = cli.execute(namespace, connection=django_connection)
        if status:
            # cli.execute printed the one sentence; the status is the whole answer.
            sys.exit(status)
