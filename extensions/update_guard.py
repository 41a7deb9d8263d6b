"""Copier migration, before every update: refuse an update that would break the app, before
anything is written.

    update_guard.py STACK_GIVEN      (the `stack` of --data, "" when not given)

- Changing `stack` is refused: it would delete one framework's layer and write another's
  into an app that stays what it is. A new copy in a new folder is the way.
- A fork's app never moves to a version without the fork's label: an app at v0.3.0+acme.1
  updated to upstream's v0.4.0 (a tag that reached the fork) would silently lose the
  fork's add-ons and defaults. Copier gives the versions as VERSION_FROM and VERSION_TO,
  the tags (or `git describe` of a commit); its PEP 440 forms drop the label.

Each refusal is one sentence on stderr and exit status 1; Copier then stops.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ANSWERS_FILES = (".copier-answers.heroku.yml", ".copier-answers.yml")


def recorded(folder: Path, key: str) -> str:
    """An answer as the app's answers file records it (a plain `key: value` line)."""
    for name in ANSWERS_FILES:
        path = folder / name
        if path.is_file():
            match = re.search(rf"^{key}:\s*(\S+)\s*$", path.read_text(encoding="utf-8"), re.M)
            return match[1].strip("'\"") if match else ""
    return ""


def stack_change_error(before: str, after: str) -> str:
    if before and after and before != after:
        return (f"This app's deploy layer is for {before}, and changing the stack to {after} "
                f"would delete that layer and write another into an app that stays {before}: "
                f"keep stack={before}, or copy the template into a new folder for a "
                f"{after} app.")
    return ""


def label(version: str) -> str:
    """The local version label: `acme` in v0.3.0+acme.1 and in v0.3.0+acme.1-2-g1c37050."""
    local = version.partition("+")[2]
    return local.split(".")[0] if local else ""


def fork_label_error(version_from: str, version_to: str) -> str:
    ours, theirs = label(version_from), label(version_to)
    if ours and ours != theirs:
        return (f"This app follows the {ours} fork (version {version_from.lstrip('v')}), and "
                f"{version_to.lstrip('v')} is not one of its releases: update to a release "
                f"of the {ours} fork (copier update --vcs-ref v...+{ours}.N), or ask the "
                f"fork's maintainers to release the upstream changes with the +{ours} label.")
    return ""


def main(argv: list[str]) -> int:
    folder = Path.cwd()
    refusals = [
        stack_change_error(recorded(folder, "stack"), argv[0] if argv else ""),
        fork_label_error(os.environ.get("VERSION_FROM", ""), os.environ.get("VERSION_TO", "")),
    ]
    for refusal in filter(None, refusals):
        print(f"copier update refused, nothing was changed: {refusal}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
