"""Copier task: pull the deploy layer's dependency file into the app's own, with one line.

Runs in the destination folder after copy and update. Rails: `eval_gemfile
"Gemfile.deploy"` in the Gemfile. Django and Flask: `-r requirements-deploy.txt` in
requirements.txt. Touches nothing else, and leaves the file alone when the line is there
already (commented out counts: that is the app's decision).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Include:
    app_file: str
    line: str
    present: re.Pattern
    comment: str


RAILS = Include(
    app_file="Gemfile",
    line='eval_gemfile "Gemfile.deploy"',
    present=re.compile(r"""^\s*#?\s*eval_gemfile[\s(]+["']Gemfile\.deploy["']""", re.M),
    comment="# Gems of the Heroku deploy layer (copier-heroku); see Gemfile.deploy.",
)
PYTHON = Include(
    app_file="requirements.txt",
    line="-r requirements-deploy.txt",
    present=re.compile(r"^\s*#?\s*(-r|--requirement)[\s=]+requirements-deploy\.txt\s*$", re.M),
    comment="# Packages of the Heroku deploy layer (copier-heroku).",
)
INCLUDES = {"rails": RAILS, "django": PYTHON, "flask": PYTHON}


def needs_line(folder: Path, stack: str) -> bool:
    """True when the app has its dependency file and it lacks the line: only then is
    there work for the task (Copier's `when:` asks this, sparing a process otherwise)."""
    include = INCLUDES[stack]
    app_file = folder / include.app_file
    return app_file.is_file() and not include.present.search(
        app_file.read_text(encoding="utf-8"))


def ensure_included(folder: Path, include: Include) -> str:
    """Add the line when missing; return what happened, in words for the user."""
    app_file = folder / include.app_file
    if not app_file.exists():
        return (f"No {include.app_file} here: add this line to the app's "
                f"{include.app_file}: {include.line}")
    text = app_file.read_text(encoding="utf-8")
    if include.present.search(text):
        return ""
    if text and not text.endswith("\n"):
        text += "\n"
    separator = "\n" if text.strip() else ""
    app_file.write_text(f"{text}{separator}{include.comment}\n{include.line}\n", encoding="utf-8")
    return f"Added to {include.app_file}: {include.line}"


if __name__ == "__main__":
    message = ensure_included(Path.cwd(), INCLUDES[sys.argv[1]])
    if message:
        print(message)
