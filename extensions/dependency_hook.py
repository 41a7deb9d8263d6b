"""Copier task: pull the deploy layer's dependency file into the app's own, with one line.

Runs in the destination folder after copy and update. Rails: `eval_gemfile
"Gemfile.deploy"` in the Gemfile. Django and Flask: `-r requirements-deploy.txt` in
requirements.txt. Which line goes in which file is the stack's entry in the catalog. Touches
nothing else, and leaves the file alone when the line is there already (commented out
counts: that is the app's decision).

    dependency_hook.py STACK
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from copier_heroku.catalog import STACKS  # noqa: E402
from copier_heroku.model import DependencyInclude  # noqa: E402


def ensure_included(folder: Path, include: DependencyInclude) -> str:
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
    message = ensure_included(Path.cwd(), STACKS[sys.argv[1]].dependency)
    if message:
        print(message)
