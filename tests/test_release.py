"""The project's version follows the CHANGELOG: the newest release heading is the version."""

from __future__ import annotations

import re

from helpers.paths import ROOT


def newest_changelog_version() -> str:
    headings = re.findall(r"^## v(\d+\.\d+\.\d+\S*) \(", (ROOT / "CHANGELOG.md").read_text(),
                          re.M)
    assert headings, "CHANGELOG.md has no release heading"
    return headings[0]


def test_pyproject_version_is_the_newest_changelog_release():
    # A regular expression, not tomllib: the tests run on Python 3.10 too.
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version and version[1] == newest_changelog_version()
