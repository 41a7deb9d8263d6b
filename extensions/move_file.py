"""Copier migration, before an update: carry the app's edits of a file the template renamed.

    move_file.py OLD NEW     (paths relative to the app)

An unedited file is left alone: Copier removes it under the old name and writes the new
name fresh, a clean update. An edited one is moved first (with `git mv`), so the edits land
in the new file, where the merge shows them for review instead of Copier deleting them.
Nothing happens when OLD is gone or NEW exists already.

Edited means: different from the content the layer last wrote, which is OLD as of the last
commit that changed the answers file (each copy and update rewrites it). Comparing with
what the old template renders would be exact, but a before-migration cannot see that render;
the answers file's commit can be read from git, which Copier requires for an update.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ANSWERS_FILES = (".copier-answers.heroku.yml", ".copier-answers.yml")


def git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True)


def edited_since_the_layer_wrote_it(folder: Path, path: str) -> bool:
    for answers in ANSWERS_FILES:
        commit = git(folder, "log", "-1", "--format=%H", "--", answers).stdout.strip()
        if commit:
            written = git(folder, "show", f"{commit}:{path}")
            return written.returncode != 0 or \
                written.stdout != (folder / path).read_text(encoding="utf-8")
    return True  # no history to tell: keep the edits, if any, by moving


def move(folder: Path, old: str, new: str) -> str:
    source, target = folder / old, folder / new
    if not source.is_file() or target.exists():
        return ""
    if not edited_since_the_layer_wrote_it(folder, old):
        return ""
    target.parent.mkdir(parents=True, exist_ok=True)
    tracked = git(folder, "ls-files", "--error-unmatch", old).returncode == 0
    if tracked:
        subprocess.run(["git", "mv", old, new], cwd=folder, check=True, capture_output=True)
    else:
        source.rename(target)
    return (f"Moved {old} to {new} with your edits: the template renamed it. Review the "
            f"merge in {new}.")


if __name__ == "__main__":
    message = move(Path.cwd(), sys.argv[1], sys.argv[2])
    if message:
        print(message)
