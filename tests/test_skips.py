"""On a laptop without the system tools, the suite skips what needs them, says why, and
passes; tests that run other tests (a fork's matrix) count those skips as such."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.paths import ROOT

HIDDEN = {"shellcheck", "ruby", "rails", "rake", "bundle", "foreman", "gem", "irb",
          "psql", "pg_ctl", "initdb", "postgres", "pg_config", "redis-server", "redis-cli"}
# A test of each kind that needs one of those tools, and the fork test whose inner run of
# the matrix skips its shellcheck and Ruby checks.
SELECTION = ["tests/test_generation.py::test_shell_scripts_pass_bash_n_and_shellcheck[defaults]",
             "tests/test_generation.py::test_ruby_files_have_valid_syntax[defaults]",
             "tests/test_sanitize.py::test_an_autocommit_connection_still_gets_one_transaction",
             "tests/test_secret_initializer.py::test_a_blank_secret_counts_as_missing",
             "tests/test_fork.py::test_a_fork_matrix_covers_its_new_choice_without_test_edits"]


def path_without(tools: set[str], shims: Path) -> str:
    """A PATH holding every command of this one but `tools`."""
    shims.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            if entry.name in tools or (shims / entry.name).exists():
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                (shims / entry.name).symlink_to(entry.path)
    return str(shims)


def test_a_laptop_without_shellcheck_ruby_or_postgres_skips_and_passes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "REQUIRE_E2E"}
    env["PATH"] = path_without(HIDDEN, tmp_path / "bin")
    env["PG_BINDIR"] = str(tmp_path / "no-postgres")
    assert not any(shutil.which(tool, path=env["PATH"]) for tool in HIDDEN)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *SELECTION],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "failed" not in summary and "error" not in summary, summary
    assert re.search(r"\d+ skipped", summary), summary
    for reason in ("`shellcheck` is not installed", "`ruby` is not installed",
                   "PostgreSQL 15 server binaries"):
        assert reason in result.stdout, f"no skip says {reason!r}"
