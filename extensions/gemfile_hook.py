"""Copier task: pull Gemfile.deploy into the app's Gemfile with one line, once.

Runs in the destination folder after copy and update. Touches nothing but the Gemfile,
and leaves it alone when the line is already there (commented out counts as a decision).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LINE = 'eval_gemfile "Gemfile.deploy"'
_PRESENT = re.compile(r"""^\s*#?\s*eval_gemfile[\s(]+["']Gemfile\.deploy["']""", re.MULTILINE)


def ensure_eval_gemfile(gemfile: Path) -> str:
    """Add the line when missing; return what happened, in words for the user."""
    if not gemfile.exists():
        return (f"No Gemfile here: after `rails new`, add this line to its Gemfile: {LINE}")
    text = gemfile.read_text(encoding="utf-8")
    if _PRESENT.search(text):
        return ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += ("\n# Gems of the Heroku deploy layer (copier-heroku); see Gemfile.deploy.\n"
             f"{LINE}\n")
    gemfile.write_text(text, encoding="utf-8")
    return f"Added to Gemfile: {LINE}"


if __name__ == "__main__":
    message = ensure_eval_gemfile(Path(sys.argv[1] if len(sys.argv) > 1 else "Gemfile"))
    if message:
        print(message)
