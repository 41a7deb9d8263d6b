"""The layer's lines in files the app owns: .gitignore keeps the app's lines and the
framework's, and ends with the layer's block, whatever a merge or a person did to it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from copier_heroku import owned_lines
from copier_heroku.stacks import STACKS
from helpers.paths import ROOT
from helpers.template import commit_all, generate, git, update

LINES = STACKS["django"].ignored


def test_the_block_is_added_once_and_a_second_pass_changes_nothing():
    text = "/coverage\n"
    once = owned_lines.with_block(text, LINES)
    assert once.startswith("/coverage\n\n" + owned_lines.BEGIN)
    assert owned_lines.with_block(once, LINES) == once
    assert not owned_lines.needs_block(once, LINES)


def test_a_line_added_below_the_block_goes_above_it():
    text = owned_lines.with_block("/coverage\n", LINES) + "!.env\n"
    fixed = owned_lines.with_block(text, LINES)
    assert fixed.index("!.env\n") < fixed.index(owned_lines.BEGIN)
    assert fixed.endswith(owned_lines.END + "\n")


def test_the_tail_older_releases_wrote_is_folded_into_the_block():
    text = "/log/*\n\n" + owned_lines.LEGACY_GITIGNORE_TAIL
    fixed = owned_lines.with_block(text, LINES)
    assert fixed.count(".env.*\n") == 1
    assert fixed == "/log/*\n\n" + owned_lines.block(LINES)


def ignored(app, path: str) -> bool:
    """What the rules say, tracked or not (--no-index)."""
    return git(app, "check-ignore", "-q", "--no-index", path, check=False).returncode == 0


def copy_without_a_terminal(dst, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD",
         *args, str(ROOT), str(dst)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TERM": "dumb"})


UV_INIT_GITIGNORE = "# Python-generated files\n__pycache__/\n*.py[oc]\nbuild/\ndist/\nwheels/\n" \
                    "*.egg-info\n\n# Virtual environments\n.venv\n"
RAILS_8_GITIGNORE = "/.bundle\n\n# Ignore all environment files.\n/.env*\n\n/log/*\n/tmp/*\n" \
                    "!/log/.keep\n!/tmp/.keep\n/config/master.key\n"


@pytest.mark.parametrize("stack,theirs", [("django", UV_INIT_GITIGNORE),
                                          ("rails", RAILS_8_GITIGNORE)],
                         ids=["uv-init", "rails-8"])
def test_a_copy_onto_a_project_with_its_own_gitignore_completes_without_a_terminal(
        tmp_path, stack, theirs):
    app = tmp_path / "shop"
    app.mkdir()
    (app / ".gitignore").write_text(theirs)
    git(app, "init", "-q")
    result = copy_without_a_terminal(app, "--data", f"stack={stack}")
    assert result.returncode == 0, result.stderr[-2000:]
    text = (app / ".gitignore").read_text()
    assert text.startswith(theirs), "the project's own lines come first, untouched"
    assert text.endswith(owned_lines.block(STACKS[stack].ignored))
    assert (app / ".env.example").exists()
    assert ignored(app, ".env") and ignored(app, ".env.production")
    assert not ignored(app, ".env.example"), ".env.example must stay tracked"


@pytest.mark.parametrize("resolution", ["lines-deleted", "block-deleted", "env-unignored"])
def test_after_any_edit_an_update_keeps_env_out_of_git(template_repo, tmp_path, resolution):
    """However a person or a merge left .gitignore, the next update puts the block back."""
    app = generate(tmp_path / "shop", {"stack": "django"}, src=template_repo, vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer")
    gitignore = app / ".gitignore"
    text = gitignore.read_text()
    if resolution == "lines-deleted":
        text = "\n".join(line for line in text.splitlines() if not line.startswith(".env"))
    elif resolution == "block-deleted":
        text = text[:text.index(owned_lines.BEGIN)]
    else:
        text += "!.env\n"
    gitignore.write_text(text)
    git(app, "add", ".gitignore")
    git(app, "commit", "-qm", "our .gitignore")
    assert not ignored(app, ".env")
    # Copier refuses to update a tree with an untracked file, which .env now is.
    (app / ".env").rename(tmp_path / "env-kept-aside")

    update(app)

    assert ignored(app, ".env")
    assert not ignored(app, ".env.example")
    assert "__pycache__/" in gitignore.read_text(), "the rest of the file is the app's"
