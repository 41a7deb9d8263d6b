"""Rails 8 apps as `rails new` and the asset installers write them, from tests/fixtures/.

Debian packages no Rails 8, so the files the deploy layer meets are fixtures written from
the generators' own templates (tests/fixtures/README.md says which).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.paths import TESTS

FIXTURES = TESTS / "fixtures"
# The asset installers that replace bin/dev and write Procfile.dev with watcher lines.
INSTALLERS = ("tailwindcss-rails", "cssbundling-rails")


def rails8_app(dst: Path, installer: str | None = None) -> Path:
    """A `rails new demo --database=postgresql` 8.1 app, then `installer`'s files on top."""
    shutil.copytree(FIXTURES / "rails-8.1", dst)
    if installer:
        shutil.copytree(FIXTURES / installer, dst, dirs_exist_ok=True)
    return dst
