"""The two sanitize engines as commands, and the README's table of when sanitize runs.

tests/test_sanitize.py (on a real PostgreSQL) and tests/test_sanitize_golden.py (no
database) run the engines the way a user runs them: the Python one as
`python -m heroku_sanitize`, the Ruby one as `ruby lib/heroku_sanitize.rb`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template"
PY_PACKAGE = TEMPLATE / "heroku_sanitize"
RB_ENGINE = TEMPLATE / "lib" / "heroku_sanitize.rb"
RAKE_TASK = TEMPLATE / "lib" / "tasks" / "sanitize.rake"
CATALOG_SQL = TEMPLATE / "config" / "sanitize_catalog.sql"
DATA = ROOT / "tests" / "data" / "sanitize"
ENGINES = ("python", "ruby")

# Variables of the machine running the tests that would change what the engines do.
CLEARED = ("APP_STAGE", "RAILS_ENV", "RACK_ENV", "APP_ENV", "DJANGO_ENV", "FLASK_ENV",
           "SANITIZE_SALT", "SANITIZE_MODE", "SANITIZE_RULES", "SANITIZE_DATABASE_URL",
           "DATABASE_URL", "ALLOW_UNCOVERED", "DRY_RUN")


def package_parent(folder: Path) -> Path:
    """A folder where the template's package imports as `heroku_sanitize`."""
    link = folder / "heroku_sanitize"
    if not link.exists():
        link.symlink_to(PY_PACKAGE, target_is_directory=True)
    return folder


def command(engine: str, *args: str) -> list[str]:
    if engine == "python":
        return [sys.executable, "-m", "heroku_sanitize", *args]
    return ["ruby", str(RB_ENGINE), *args]


def environment(python_path: Path, env: dict[str, str | None] | None = None) -> dict[str, str]:
    """The test machine's environment without sanitize's variables, APP_STAGE=staging, then
    `env` (a None value removes a variable)."""
    full = {k: v for k, v in os.environ.items() if k not in CLEARED}
    full.update({"PYTHONPATH": str(python_path), "APP_STAGE": "staging"})
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


def run_engine(engine: str, *args: str, python_path: Path,
               env: dict[str, str | None] | None = None,
               cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command(engine, *args), capture_output=True, text=True,
                          env=environment(python_path, env), cwd=cwd, timeout=timeout,
                          check=False)


@dataclass(frozen=True)
class GuardCase:
    stage: str | None  # None: APP_STAGE unset
    others: dict[str, str]
    runs: bool

    @property
    def id(self) -> str:
        stage = "unset" if self.stage is None else self.stage
        others = "+".join(f"{k}={v}" for k, v in self.others.items()) or "alone"
        return f"{stage}-{others}"

    @property
    def env(self) -> dict[str, str | None]:
        return {"APP_STAGE": self.stage, **self.others}


def guard_cases() -> list[GuardCase]:
    """The README's table of when sanitize runs: the one statement of the rule, which both
    engines are held to."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Sanitize\n", 1)[1].split("\n## ", 1)[0]
    header = re.search(r"^\| `APP_STAGE` \| Other variables \| Sanitize \|$", section,
                       re.MULTILINE)
    assert header, "README.md's Sanitize section lost its table of when sanitize runs"
    cases = []
    for line in section[header.end():].strip().splitlines()[1:]:
        if not line.startswith("|"):
            break
        stage, others, verdict = (cell.strip() for cell in line.strip("|").split("|"))
        value = None if stage == "unset" else stage.strip("`")
        assignments = {} if others == "none" else dict(
            pair.split("=", 1) for pair in others.strip("`").split())
        assert verdict in ("runs", "refused"), line
        cases.append(GuardCase(value, assignments, verdict == "runs"))
    return cases
