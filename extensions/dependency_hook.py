"""Copier task: pull the deploy layer's dependency file into the app's own, with one line.

Runs in the destination folder after copy and update. Rails: `eval_gemfile
"Gemfile.deploy"` in the Gemfile. Django and Flask: `-r requirements-deploy.txt` in
requirements.txt. Touches nothing else, and leaves the file alone when the line is there
already (commented out counts: that is the app's decision).
"""

from __future__ import annotations

import re
import subprocess
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


def in_git_work_tree(folder: Path) -> bool:
    result = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=folder,
                            capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip() == "true"


if __name__ == "__main__":
    stack, operation = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "copy")
    # `copier update` also renders scratch copies of the old and new template versions
    # outside any repository and runs tasks there: only the app itself is worth a word.
    if operation == "update" and not in_git_work_tree(Path.cwd()):
        sys.exit(0)
    message = ensure_included(Path.cwd(), INCLUDES[stack])
    if message:
        print(message)
