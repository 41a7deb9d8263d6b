"""System tools a test needs: a missing one skips on a laptop and fails under REQUIRE_E2E=1.

A test that needs a system tool (ruby, shellcheck, postgres, the Heroku CLI manifest ...)
calls `require_tool` or `missing`: on a laptop without it the test skips with the reason;
with REQUIRE_E2E=1, as .ci/run sets it, the missing tool is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

REQUIRE_E2E = os.environ.get("REQUIRE_E2E") == "1"
# Where .ci/run installs the npm package `heroku`; HEROKU_CLI_DIR overrides it.
HEROKU_CLI_DIR = Path(os.environ.get(
    "HEROKU_CLI_DIR", Path.home() / ".cache" / "copier-heroku" / "heroku-cli"))


def missing(reason: str) -> None:
    """Skip on a laptop, fail under REQUIRE_E2E=1."""
    if REQUIRE_E2E:
        pytest.fail(f"REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        missing(f"`{name}` is not installed")
    return path


def require_module(name: str):
    """A Python package of the test extra (`pip install -e '.[test]'`), imported."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package {name} is not installed (pip install -e '.[test]')")


def stop_group(process: subprocess.Popen, grace: float) -> None:
    """Stop a process started in a session of its own, and everything it started: TERM,
    then KILL after `grace` seconds. A group that is gone already is fine."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
