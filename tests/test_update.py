"""`copier update` re-applies answers, changed or not, and keeps the app's own edits.

Shaped like Copier's own update tests: the template is committed and tagged, the app is
copied from the tag and committed, the template moves on to a newer tag, and the app is
updated with a changed answer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from copier import run_update

from conftest import ROOT, generate, git

TEMPLATE_PARTS = ("copier.yml", "template", "extensions", "includes")


def snapshot_template(dst: Path) -> Path:
    """The working tree's template (uncommitted edits included) as a repository of its own."""
    dst.mkdir()
    for part in TEMPLATE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / part)
    git(dst, "init", "-q")
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "template")
    return dst


def release(template: Path, tag: str) -> None:
    git(template, "add", "-A")
    git(template, "commit", "-qm", f"release {tag}", "--allow-empty")
    git(template, "tag", tag)


@pytest.fixture
def template_repo(tmp_path) -> Path:
    repo = snapshot_template(tmp_path / "template")
    release(repo, "v1.0.0")
    return repo


def commit_all(app: Path, message: str) -> None:
    git(app, "add", "-A")
    git(app, "commit", "-qm", message)


def test_update_keeps_edits_and_follows_a_changed_answer(template_repo, tmp_path):
    app = generate(tmp_path / "shop", {"web_server": "unicorn"}, src=template_repo,
                   vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer from copier-heroku v1.0.0")
    secret = (app / ".env").read_text()

    with (app / ".gitignore").open("a") as gitignore:
        gitignore.write("\n# Ours\n/coverage\n")
    with (app / "DEPLOY.md").open("a") as deploy_md:
        deploy_md.write("\n## On call\n\nPage the web team first.\n")
    commit_all(app, "our own notes")

    # The template moves on: a newer release changes a generated file.
    deploy_template = template_repo / "template" / "DEPLOY.md.jinja"
    deploy_template.write_text(deploy_template.read_text().replace(
        "# Deploying {{ project_name }} on Heroku",
        "# Deploying {{ project_name }} on Heroku\n\n> Runbook format 2."))
    release(template_repo, "v1.1.0")

    run_update(str(app), data={"web_server": "puma"}, defaults=True, overwrite=True,
               unsafe=True, quiet=True)

    assert "/coverage" in (app / ".gitignore").read_text()
    deploy_md = (app / "DEPLOY.md").read_text()
    assert "Page the web team first." in deploy_md
    assert "> Runbook format 2." in deploy_md
    assert (app / "Procfile").read_text().startswith("web: bundle exec puma -C config/puma.rb\n")
    assert (app / "config" / "puma.rb").exists()
    assert not (app / "config" / "unicorn.rb").exists()
    assert (app / ".env").read_text() == secret, "update must never regenerate .env"
    answers = (app / ".copier-answers.yml").read_text()
    assert "web_server: puma" in answers and "_commit: v1.1.0" in answers


def test_update_without_changes_leaves_git_status_clean(template_repo, tmp_path):
    app = generate(tmp_path / "shop", src=template_repo, vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer")
    run_update(str(app), defaults=True, overwrite=True, unsafe=True, quiet=True)
    assert git(app, "status", "--porcelain").stdout == ""
