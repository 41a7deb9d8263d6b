"""Updating from a bad state gives one clear sentence, not a traceback, and changes nothing;
a template path typed as a relative path still updates from inside the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers.template import ANSWERS_FILE, commit_all, generate, git


def copier_update(app: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "copier", "update", "--trust", "--defaults",
                           "-a", ANSWERS_FILE],
                          cwd=app, capture_output=True, text=True, timeout=120)


def committed_app(template_repo: Path, dst: Path) -> Path:
    app = generate(dst, src=template_repo, vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer")
    return app


def said_one_sentence(result: subprocess.CompletedProcess, sentence: str) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert sentence in output


def test_a_dirty_working_tree_is_refused_with_a_sentence(template_repo, tmp_path):
    app = committed_app(template_repo, tmp_path / "shop")
    (app / "Procfile").write_text("web: my own server\n")
    result = copier_update(app)
    assert result.returncode != 0
    said_one_sentence(result, "Destination repository is dirty; cannot continue. "
                              "Please commit or stash your local changes and retry.")
    assert (app / "Procfile").read_text() == "web: my own server\n"


def test_a_missing_answers_file_is_refused_with_a_sentence(template_repo, tmp_path):
    app = committed_app(template_repo, tmp_path / "shop")
    git(app, "rm", "-q", ".copier-answers.heroku.yml")
    commit_all(app, "lost the answers")
    before = git(app, "rev-parse", "HEAD").stdout
    result = copier_update(app)
    assert result.returncode != 0
    said_one_sentence(result, "Cannot update because cannot obtain old template references "
                              "from `.copier-answers.heroku.yml`.")
    assert git(app, "status", "--porcelain").stdout == ""
    assert git(app, "rev-parse", "HEAD").stdout == before


def test_a_relative_template_path_is_recorded_so_updates_find_it(template_repo, tmp_path):
    # `copier copy ../templates/copier-heroku apps/shop`, typed in another folder.
    workdir = tmp_path / "work"
    workdir.mkdir()
    relative = Path("..") / template_repo.relative_to(tmp_path)
    subprocess.run([sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "-q",
                    str(relative), "apps/shop"], cwd=workdir, check=True, capture_output=True)
    app = workdir / "apps" / "shop"
    assert f"_src_path: {template_repo}" in (app / ".copier-answers.heroku.yml").read_text()
    git(app, "init", "-q")
    commit_all(app, "deploy layer")
    result = copier_update(app)
    assert result.returncode == 0, result.stderr
    assert git(app, "status", "--porcelain").stdout == ""
