"""Copier migration, before an update: move a file that the template renamed, edits and
all. Without it, Copier deletes the app's edited copy under the old name and writes the
new name fresh, and the edits are gone; with it, they land in the new file, where the
merge shows them for review.

    move_file.py OLD NEW     (paths relative to the app; nothing happens when OLD is gone
                              or NEW exists already)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def move(folder: Path, old: str, new: str) -> str:
    source, target = folder / old, folder / new
    if not source.is_file() or target.exists():
        return ""
    target.parent.mkdir(parents=True, exist_ok=True)
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", old], cwd=folder,
                             capture_output=True).returncode == 0
    if tracked:
        subprocess.run(["git", "mv", old, new], cwd=folder, check=True, capture_output=True)
    else:
        source.rename(target)
    return f"Moved {old} to {new}: the template renamed it."


if __name__ == "__main__":
    message = move(Path.cwd(), sys.argv[1], sys.argv[2])
    if message:
        print(message)
