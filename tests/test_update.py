"""`copier update` re-applies answers, changed or not, and keeps the app's own edits.

Shaped like Copier's own update tests: the template is committed and tagged, the app is
copied from the tag and committed, the template moves on to a newer tag, and the app is
updated with a changed answer.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT
from helpers.template import ANSWERS_FILE, commit_all, generate, git, release, update


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

    update(app, {"web_server": "puma"})

    assert "/coverage" in (app / ".gitignore").read_text()
    deploy_md = (app / "DEPLOY.md").read_text()
    assert "Page the web team first." in deploy_md
    assert "> Runbook format 2." in deploy_md
    assert (app / "Procfile").read_text().startswith("web: bundle exec puma -C config/puma.rb\n")
    assert (app / "config" / "puma.rb").exists()
    assert not (app / "config" / "unicorn.rb").exists()
    assert (app / ".env").read_text() == secret, "update must never regenerate .env"
    answers = (app / ".copier-answers.heroku.yml").read_text()
    assert "web_server: puma" in answers and "_commit: v1.1.0" in answers


def test_update_without_changes_leaves_git_status_clean(template_repo, tmp_path):
    app = generate(tmp_path / "shop", src=template_repo, vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer")
    update(app)
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
    ("django-gains-celery-and-hirefire", {"stack": "django"},
     {"stack": "django", "worker": "celery", "autoscaler": "hirefire", "heroku_team": "acme"}),
    ("flask-drops-rq-and-judoscale", {"stack": "flask", "worker": "rq", "autoscaler": "judoscale"},
     {"stack": "flask", "worker": "none"}),
    ("rails-sidekiq-becomes-good-job", {"worker": "sidekiq", "autoscaler": "hirefire"},
     {"worker": "good_job", "autoscaler": "hirefire"}),
]


def rendered_tree(app: Path, app_owned: set[str]) -> dict[str, str]:
    tree = {}
    for path in sorted(app.rglob("*")):
        rel = path.relative_to(app).as_posix()
        if not path.is_file() or rel.startswith(".git/") or rel in app_owned:
            continue
        text = path.read_text(encoding="utf-8")
        if rel == ".copier-answers.heroku.yml":
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
    update(app, after)

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

    update(app, {"web_server": "puma"})

    procfile = (app / "Procfile").read_text()
    assert "<<<<<<< before updating" in procfile and ">>>>>>> after updating" in procfile
    assert "-E production" in procfile and "bundle exec puma" in procfile
    assert "copier update left conflicts in 1 file(s): Procfile." in capfd.readouterr().err


# --------------------------------------------------------------------------- answer changes


def copier_cli(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "copier", "update", "--trust", "--defaults",
                           "-a", ANSWERS_FILE, *args], cwd=app, capture_output=True, text=True,
                          timeout=300)


def test_changing_the_stack_on_update_is_refused_and_changes_nothing(template_repo, tmp_path):
    app = generate(tmp_path / "shop", {"web_server": "unicorn"}, src=template_repo,
                   vcs_ref="v1.0.0")
    git(app, "init", "-q")
    commit_all(app, "a rails app's deploy layer")
    before = git(app, "rev-parse", "HEAD").stdout

    result = copier_cli(app, "--data", "stack=django")

    assert result.returncode != 0
    assert ("copier update refused, nothing was changed: This app's deploy layer is for "
            "rails, and changing the stack to django would delete that layer") in result.stderr
    assert "Traceback" not in result.stderr
    assert git(app, "status", "--porcelain").stdout == ""
    assert git(app, "rev-parse", "HEAD").stdout == before
    assert (app / "config" / "unicorn.rb").exists()


def test_a_copy_over_an_app_of_another_stack_is_refused_at_the_prompt(tmp_path):
    app = generate(tmp_path / "shop")
    with pytest.raises(ValueError) as refused:
        generate(app, {"stack": "flask"}, overwrite=True)
    assert "changing the stack to flask would delete that layer" in str(refused.value)
    assert not (app / "gunicorn.conf.py").exists()


def importable_layer_references(package: Path) -> list[str]:
    """Imports, in the package, of its own modules that do not exist."""
    broken = []
    for source in package.glob("*.py"):
        for name in re.findall(r"^\s*from \.(\w+) import", source.read_text(), re.M):
            if not (package / f"{name}.py").exists():
                broken.append(f"{source.name}: .{name}")
    return broken


def test_dropping_the_worker_keeps_the_apps_tasks_and_an_importable_app(template_repo,
                                                                        tmp_path, capfd):
    app = generate(tmp_path / "shop", {"stack": "django", "worker": "celery",
                                       "autoscaler": "hirefire"},
                   src=template_repo, vcs_ref="v1.0.0")
    package = app / "demo_shop"
    git(app, "init", "-q")
    with (package / "tasks.py").open("a") as tasks:
        tasks.write("\n\n# Ours: the nightly report.\n")
    commit_all(app, "the deploy layer and our tasks")
    capfd.readouterr()

    update(app, {"worker": "none"})

    assert "# Ours: the nightly report." in (package / "tasks.py").read_text()
    said = capfd.readouterr()
    assert "Kept demo_shop/tasks.py" in said.out
    assert not (package / "worker.py").exists() and not (package / "hirefire.py").exists()
    # Nothing the package imports on start names a removed module; the kept tasks.py
    # still does, and the update says so.
    assert importable_layer_references(package) == ["tasks.py: .worker"]
    assert "demo_shop/tasks.py: from .worker import" in said.err
    # settings.py and __init__.py are the app's and were not touched; the layer's own
    # heroku_env.py no longer wires the worker or HireFire in.
    probe = subprocess.run([sys.executable, "-c", "from demo_shop import heroku_env; "
                            "print(heroku_env.middleware())"], cwd=app, capture_output=True,
                           text=True)
    assert probe.stdout.strip() == "[]", probe.stderr
    assert "hirefire" not in (package / "settings.py").read_text()


def test_an_older_apps_import_of_a_removed_worker_is_named(template_repo, tmp_path, capfd):
    """v0.2.0 wrote `from .worker import app as celery_app` into the app's own __init__.py."""
    app = generate(tmp_path / "shop", {"stack": "django", "worker": "celery"},
                   src=template_repo, vcs_ref="v1.0.0")
    git(app, "init", "-q")
    (app / "demo_shop" / "__init__.py").write_text(
        '"""The Django project package."""\n\nfrom .worker import app as celery_app\n')
    commit_all(app, "as v0.2.0 wrote it")
    capfd.readouterr()

    update(app, {"worker": "none"})

    said = capfd.readouterr().err
    assert ("demo_shop/__init__.py: from .worker import app as celery_app names a module "
            "this update removed: delete that line") in said
