"""Copier migration, after every update between releases: say which files the merge left
in conflict, so nobody commits a Procfile with conflict markers in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MARKER = b"<<<<<<< "


def conflicted_files(folder: Path) -> list[str]:
    listed = subprocess.run(["git", "diff", "--name-only", "--diff-filter=U"], cwd=folder,
                            capture_output=True, text=True).stdout.split()
    tracked = subprocess.run(["git", "ls-files", "--modified", "--others", "--exclude-standard"],
                             cwd=folder, capture_output=True, text=True).stdout.splitlines()
    with_markers = [name for name in tracked if (folder / name).is_file()
                    and any(line.startswith(MARKER)
                            for line in (folder / name).read_bytes().splitlines())]
    return sorted(set(listed) | set(with_markers))


if __name__ == "__main__":
    files = conflicted_files(Path.cwd())
    if files:
        print(f"copier update left conflicts in {len(files)} file(s): {', '.join(files)}. "
              "Keep what you need between the '<<<<<<< before updating' and "
              "'>>>>>>> after updating' markers, delete the markers, then commit.",
              file=sys.stderr)
