"""A fresh Rails app from Debian's Rails, as `rails new` writes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.tools import require_tool


def rails_new(parent: Path, name: str = "demo", *, skip_git: bool = True) -> Path:
    require_tool("rails")
    args = ["rails", "new", name, "--minimal", "--skip-sprockets", "--skip-listen",
            "--skip-bundle", "--database=postgresql"] + (["--skip-git"] if skip_git else [])
    subprocess.run(args, cwd=parent, check=True, capture_output=True, timeout=300)
    return parent / name
