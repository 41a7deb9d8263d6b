"""Fixtures shared by the test modules. Helpers (generating apps, tools, questions, the
PostgreSQL server, the Heroku CLI manifest) live in tests/helpers/."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# tests/ for `helpers`, the repository for `extensions`, extensions/ for `copier_heroku`.
for path in (ROOT / "extensions", ROOT, TESTS):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
# The README runs the tests as `.venv/bin/python -m pytest`, without activating the venv:
# its tools (ruff, honcho, copier) are found beside the interpreter, as if it were active.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                      os.environ.get("PATH", "")])

from helpers.template import generate, release, snapshot_template  # noqa: E402
from helpers.tools import HEROKU_CLI_DIR, missing  # noqa: E402


@pytest.fixture
def template_repo(tmp_path) -> Path:
    """The template as a repository of its own, released as v1.0.0."""
    repo = snapshot_template(tmp_path / "template")
    release(repo, "v1.0.0")
    return repo


@pytest.fixture(scope="session")
def default_app(tmp_path_factory) -> Path:
    """One app generated with the default answers, shared by read-only tests."""
    return generate(tmp_path_factory.mktemp("default") / "app")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL 15 for the session: its admin URL."""
    from helpers.postgres import running_server

    with running_server() as url:
        yield url


@pytest.fixture
def database_url(postgres_server: str) -> str:
    """A fresh, empty database for one test."""
    from helpers.postgres import create_database

    return create_database(postgres_server)


@pytest.fixture(scope="session")
def manifest():
    """The real Heroku CLI's command manifest (npm package `heroku`, installed by .ci/run)."""
    from helpers.heroku_manifest import load_manifest

    try:
        return load_manifest(str(HEROKU_CLI_DIR))
    except FileNotFoundError:
        missing(f"the Heroku CLI's manifest is not in {HEROKU_CLI_DIR} (.ci/run installs it)")
