"""`python manage.py sanitize`: scrub personal data on staging, on Django's own connection."""

import argparse

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from heroku_sanitize import cli


class Command(BaseCommand):
    help = ("Scrub personal data from this (non-production) database in place, following "
            "config/sanitize.yml, in one transaction.")

    def add_arguments(self, parser):
        cli.add_arguments(parser)

    def handle(self, *args, **options):
        connection.ensure_connection()
        namespace = argparse.Namespace(**{key: options[key] for key in (
            "rules", "database_url", "allow_uncovered", "dry_run")})
        if cli.execute(namespace, connection=connection.connection):
            raise CommandError("sanitize failed; the database is as it was.")
