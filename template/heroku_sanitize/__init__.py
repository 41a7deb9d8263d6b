"""Sanitize a copy of production data in place: `python -m heroku_sanitize --help`.

Django's `manage.py sanitize` and Flask's `flask sanitize` call `main` or `run`.
"""

from .cli import main
from .engine import SanitizeError, guard, load_rules, run

__all__ = ["SanitizeError", "guard", "load_rules", "main", "run"]
