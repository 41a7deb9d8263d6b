"""Copier task, after every copy and update: the layer's lines in files the app owns.

    app_files.py STACK

- The dependency include, once: `eval_gemfile "Gemfile.deploy"` in the Gemfile, `-r
  requirements-deploy.txt` in requirements.txt (left alone when present, even commented
  out; when the file is missing, says which line to add).
- The marked block of .gitignore that keeps `.env` and the stack's key files out of git:
  present, current and last, whatever a merge or a person did to the rest of the file.

Touches nothing else. What the lines are is the stack's entry in the catalog.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from copier_heroku import owned_lines  # noqa: E402
from copier_heroku.stacks import STACKS, Stack  # noqa: E402


def ensure(folder: Path, stack: Stack) -> list[str]:
    """Bring the app's own files in line; return what happened, in words for the user."""
    said = []
    include = stack.dependency
    app_file = folder / include.app_file
    if not app_file.exists():
        said.append(f"No {include.app_file} here: add this line to the app's "
                    f"{include.app_file}: {include.line}")
    else:
        text = app_file.read_text(encoding="utf-8")
        if not owned_lines.has_include(text, include):
            app_file.write_text(owned_lines.with_include(text, include), encoding="utf-8")
            said.append(f"Added to {include.app_file}: {include.line}")
    gitignore = folder / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if owned_lines.needs_block(text, stack.ignored):
        gitignore.write_text(owned_lines.with_block(text, stack.ignored), encoding="utf-8")
        said.append(".gitignore: the copier-heroku block is back in place, last "
                    "(.env stays out of git)")
    return said


if __name__ == "__main__":
    for line in ensure(Path.cwd(), STACKS[sys.argv[1]]):
        print(line)
