"""`copier update` re-applies answers, changed or not, and keeps the app's own edits.

Shaped like Copier's own update tests: the template is committed and tagged, the app is
copied from the tag and committed, the template moves on to a newer tag, and the app is
updated with a changed answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from copier import run_update
from helpers.paths import ROOT
from helpers.template import commit_all, generate, git, release


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
        "# Deploying {{ deploy.project_name }} on Heroku",
        "# Deploying {{ deploy.project_name }} on Heroku\n\n> Runbook format 2."))
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


# Pairs of answer sets (A, B): copy with A, commit, update with B. B names every answer
# A changed, so a fresh copy with B has the same answers.
ANSWER_PAIRS = [
    ("rails-puma-to-unicorn-thin-all-addons", {},
     {"web_server": "unicorn", "dev_server": "thin",
      "addons": ["heroku-postgresql", "newrelic", "papertrail", "heroku-redis", "scheduler"]}),
    ("rails-addons-removed-pipeline-off",
     {"addons": ["heroku-postgresql", "newrelic", "papertrail", "heroku-redis"]},
     {"addons": ["newrelic"], "pipeline": False}),
    ("rails-staging-renamed", {"staging_app": "shop-stage"},
     {"staging_app": "shop-qa", "production_app": "shop-live", "heroku_region": "eu"}),
    ("django-newrelic-dropped-backups-off", {"stack": "django"},
     {"stack": "django", "addons": ["heroku-postgresql"], "backup_schedule": ""}),
    ("flask-gains-redis-and-review-apps", {"stack": "flask", "addons": []},
     {"stack": "flask", "addons": ["heroku-redis"], "review_apps": True}),
    ("rails-to-django", {}, {"stack": "django", "heroku_team": "acme"}),
]


def rendered_tree(app: Path, app_owned: set[str]) -> dict[str, str]:
    tree = {}
    for path in sorted(app.rglob("*")):
        rel = path.relative_to(app).as_posix()
        if not path.is_file() or rel.startswith(".git/") or rel in app_owned:
            continue
        text = path.read_text(encoding="utf-8")
        if rel == ".copier-answers.yml":
            text = "\n".join(l for l in text.splitlines() if not l.startswith("_commit:"))
        tree[rel] = text
    return tree


def app_owned_files(app: Path) -> set[str]:
    """.env, the sanitize rules and the starter app: whatever _skip_if_exists names."""
    import yaml
    from pathspec import PathSpec

    patterns = yaml.safe_load((ROOT / "copier.yml").read_text())["_skip_if_exists"]
    spec = PathSpec.from_lines("gitwildmatch", patterns)
    return {str(p.relative_to(app)) for p in app.rglob("*")
            if p.is_file() and ".git" not in p.parts and spec.match_file(str(p.relative_to(app)))}


@pytest.mark.parametrize("before,after", [(a, b) for _, a, b in ANSWER_PAIRS],
                         ids=[i for i, _, _ in ANSWER_PAIRS])
def test_update_with_new_answers_equals_a_fresh_copy(template_repo, tmp_path, before, after):
    project = {"project_name": "Shop"}
    app = generate(tmp_path / "shop", {**project, **before}, src=template_repo,
                   vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "copied with A")
    run_update(str(app), data=after, defaults=True, overwrite=True, unsafe=True, quiet=True)

    fresh = generate(tmp_path / "fresh" / "shop", {**project, **after}, src=template_repo,
                     vcs_ref="v1.0.0")
    owned = app_owned_files(fresh) | app_owned_files(app)
    updated_tree, fresh_tree = rendered_tree(app, owned), rendered_tree(fresh, owned)
    assert sorted(updated_tree) == sorted(fresh_tree)
    for rel, text in fresh_tree.items():
        assert updated_tree[rel] == text, f"{rel} differs from a fresh copy"


def test_a_real_conflict_shows_markers_and_the_update_says_so(template_repo, tmp_path, capfd):
    app = generate(tmp_path / "shop", {"web_server": "unicorn"}, src=template_repo,
                   vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer")
    procfile = (app / "Procfile").read_text().replace(
        "./config/unicorn.rb", "./config/unicorn.rb -E production")
    (app / "Procfile").write_text(procfile)
    commit_all(app, "our unicorn flags")
    release(template_repo, "v1.1.0")
    capfd.readouterr()

    run_update(str(app), data={"web_server": "puma"}, defaults=True, overwrite=True,
               unsafe=True, quiet=True)

    procfile = (app / "Procfile").read_text()
    assert "<<<<<<< before updating" in procfile and ">>>>>>> after updating" in procfile
    assert "-E production" in procfile and "bundle exec puma" in procfile
    assert "copier update left conflicts in 1 file(s): Procfile." in capfd.readouterr().err
