"""The layer's lines in files the app owns: added at a marked place, never the whole file.

A file that the app or its framework also writes (.gitignore, the Gemfile,
requirements.txt) is the app's. The layer keeps a few lines in it: one include line for
its dependency file, and a marked block in .gitignore that keeps `.env` out of git. A
Copier task puts them back on every copy and update, whatever a merge or a person did, so
the guarantee does not depend on how a conflict was resolved. Pure functions on text; the
task (extensions/app_files.py) reads and writes the files.
"""

from __future__ import annotations

import re
from typing import Sequence

from .model import DependencyInclude

BEGIN = "# >>> copier-heroku >>> kept last and rewritten by `copier update`; add your lines above"
END = "# <<< copier-heroku <<<"
_BLOCK = re.compile(rf"^{re.escape(BEGIN[:20])}.*?^{re.escape(END)}[^\n]*\n?", re.M | re.S)

# The tail v0.1.0 and v0.2.0 wrote into .gitignore before the block existed: folded into
# the block when found as written.
LEGACY_GITIGNORE_TAIL = """\
# Local settings and secrets: .env and its variants stay on this machine. Last, so that no
# rule above can un-ignore them. Committed: .env.example (placeholders only) and .env*.erb
# templates (Rails 7.1+).
.env
.env.*
!.env.example
!.env*.erb
"""


def block(lines: Sequence[str]) -> str:
    return "\n".join([BEGIN, *lines, END]) + "\n"


def with_block(text: str, lines: Sequence[str]) -> str:
    """The text with the layer's block present, current, and last (so no line above it can
    un-ignore what it ignores). Everything else stays as it was."""
    body = _BLOCK.sub("", text).replace(LEGACY_GITIGNORE_TAIL, "")
    body = body.rstrip("\n")
    return f"{body}\n\n{block(lines)}" if body.strip() else block(lines)


def needs_block(text: str, lines: Sequence[str]) -> bool:
    return with_block(text, lines) != text


def has_include(text: str, include: DependencyInclude) -> bool:
    """Commented out counts as present: that is the app's decision."""
    return bool(include.present.search(text))


def with_include(text: str, include: DependencyInclude) -> str:
    if has_include(text, include):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    separator = "\n" if text.strip() else ""
    return f"{text}{separator}{include.comment}\n{include.line}\n"
