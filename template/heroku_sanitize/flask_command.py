"""`flask sanitize`: scrub personal data on staging. create_app() registers it with
`app.cli.add_command(sanitize_command)`; its options are those of
`python -m heroku_sanitize --help`."""

import sys

import click

from heroku_sanitize.cli import main


@click.command(
    "sanitize",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sanitize_command(args):
    """Scrub personal data from this (non-production) database, following
    config/sanitize.yml (--help for the options)."""
    sys.exit(main(list(args)))
