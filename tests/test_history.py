"""Updates across the real release history: every release, copied as a user copied it then,
updated to the template as it is now.

The releases are this repository's own: a clone of it gets its tags from bin/release-tags
(a release is a CHANGELOG heading and the commit that added it), and the working tree's
template is committed on top as the release under test. Nothing is simulated: each old
release renders with its own copier.yml, extensions and migrations.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_update
from helpers.paths import ROOT
from helpers.template import ANSWERS_FILE, TEMPLATE_PARTS, commit_all, generate, git
from helpers.tools import missing
from pathspec import PathSpec

RELEASES = list(reversed(re.findall(r"^## (v\d+\.\d+\.\d+) \(", (ROOT / "CHANGELOG.md")
                                    .read_text(), re.M)))
STACKS = {"rails": ("sidekiq", {}), "django": ("celery", {"python_module": "demo_shop"}),
          "flask": ("rq", {"python_module": "demo_shop"})}
CONFLICT = re.compile(r"^(<<<<<<< |>>>>>>> )", re.M)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """A clone of this repository, its releases tagged, the working tree on top as HEAD."""
    shallow = git(ROOT, "rev-parse", "--is-shallow-repository", check=False).stdout.strip()
    if shallow != "false":
        missing("the tests need this repository's whole history (git fetch --unshallow)")
    clone = tmp_path_factory.mktemp("history") / "copier-heroku"
    git(ROOT.parent, "clone", "-q", "--no-local", str(ROOT), str(clone))
    tags = subprocess.run([sys.executable, str(ROOT / "bin" / "release-tags")], cwd=clone,
                          capture_output=True, text=True)
    assert tags.returncode == 0, tags.stderr
    for part in TEMPLATE_PARTS:
        target = clone / part
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "the working tree", check=False)
    return clone


def answers_for(history: Path, release: str, stack: str) -> dict[str, Any]:
    """A Rails, Django or Flask app with a worker, where the release has workers."""
    worker, extra = STACKS[stack]
    questions = yaml.safe_load(git(history, "show", f"{release}:copier.yml").stdout)
    data = {"stack": stack, **extra}
    if "worker" in questions:
        data["worker"] = worker
    return data


def app_owned(history: Path, app: Path) -> set[str]:
    """What _skip_if_exists names at HEAD: the app's own files, left out of comparisons."""
    patterns = yaml.safe_load((history / "copier.yml").read_text())["_skip_if_exists"]
    spec = PathSpec.from_lines("gitwildmatch", patterns)
    return {rel for rel in tree(app) if spec.match_file(rel)}


def tree(app: Path) -> dict[str, str]:
    files = {}
    for path in sorted(app.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(app).parts:
            text = path.read_text(encoding="utf-8")
            if path.name.startswith(".copier-answers"):
                text = "\n".join(line for line in text.splitlines()
                                 if not line.startswith("_commit:"))
            files[str(path.relative_to(app))] = text
    return files


def copied_at(history: Path, release: str, stack: str, dst: Path) -> Path:
    app = generate(dst, answers_for(history, release, stack), src=history, vcs_ref=release)
    git(app, "init", "-q")
    commit_all(app, f"deploy layer from {release}")
    return app


def update_to_head(app: Path) -> None:
    """`copier update` as a user of that release ran it: reading the answers file the app
    has (releases before v0.3.0 wrote Copier's default .copier-answers.yml)."""
    answers = ANSWERS_FILE if (app / ANSWERS_FILE).exists() else None
    run_update(str(app), defaults=True, overwrite=True, unsafe=True, quiet=True,
               vcs_ref="HEAD", answers_file=answers)


def ignored(app: Path, path: str) -> bool:
    return git(app, "check-ignore", "-q", "--no-index", path, check=False).returncode == 0


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("release", RELEASES)
def test_an_untouched_app_updates_to_what_a_fresh_copy_writes(history, tmp_path, capfd,
                                                              release, stack):
    app = copied_at(history, release, stack, tmp_path / "demo-shop")
    had_default_answers_file = (app / ".copier-answers.yml").exists()
    capfd.readouterr()
    update_to_head(app)

    assert (app / ANSWERS_FILE).is_file()
    assert not (app / ".copier-answers.yml").exists(), "the answers moved to their own file"
    if had_default_answers_file:
        assert f"copier update --trust -a {ANSWERS_FILE}" in capfd.readouterr().out
    marked = [rel for rel, text in tree(app).items() if CONFLICT.search(text)]
    assert marked == [], f"conflict markers in an app nobody edited: {marked}"
    # A fresh copy with the answers the update ended with (an answer new since that
    # release takes what the app's files say: an old Django app is on pip).
    recorded = yaml.safe_load((app / ANSWERS_FILE).read_text())
    fresh = generate(tmp_path / "fresh" / "demo-shop",
                     {k: v for k, v in recorded.items() if not k.startswith("_")},
                     src=history, vcs_ref="HEAD")
    owned = app_owned(history, fresh) | app_owned(history, app)
    updated = {k: v for k, v in tree(app).items() if k not in owned}
    expected = {k: v for k, v in tree(fresh).items() if k not in owned}
    assert sorted(updated) == sorted(expected)
    different = [rel for rel in expected if updated[rel] != expected[rel]]
    assert different == [], f"differs from a fresh copy: {different}"
    assert ignored(app, ".env") and not ignored(app, ".env.example")
    if stack == "rails":
        # The layer owned config/puma.rb whole before; unedited, it becomes today's.
        assert (app / "config/puma.rb").read_text() == (fresh / "config/puma.rb").read_text()
    setup = subprocess.run(["bin/heroku-setup", "--help"], cwd=app, capture_output=True,
                           text=True)
    assert setup.returncode == 0 and "Usage" in setup.stdout


# (file, text the team adds) per stack: a Procfile process, the web server's config, an
# ignore line, a note in a script, a sanitize rule.
EDITS = {
    "rails": [("Procfile", "clock: bundle exec clockwork clock.rb\n"),
              ("config/puma.rb", "# Ours: one more thread for the admin pages.\n"),
              ("config/sanitize.yml", "# Ours: review the invoices table.\n")],
    "django": [("Procfile", "clock: python manage.py clock\n"),
               ("gunicorn.conf.py", "# Ours: graceful_timeout tuned for uploads.\n"),
               ("config/sanitize.yml", "# Ours: review the invoices table.\n")],
}
SHARED_EDITS = [(".gitignore", "/coverage\n"),
                ("bin/heroku-deploy", "# Ours: ask #ops before a Friday deploy.\n"),
                ("bin/lib/heroku.sh", "# Ours: the bootstrap is reviewed by #ops.\n")]
# Files a release renamed: the edit follows the file (a migration in copier.yml moves it).
RENAMED = {"bin/lib/heroku.sh": "bin/lib/heroku.bash"}


@pytest.mark.parametrize("stack", list(EDITS))
@pytest.mark.parametrize("release", RELEASES)
def test_the_teams_edits_survive_or_sit_in_reported_conflicts(history, tmp_path, capfd,
                                                              release, stack):
    app = copied_at(history, release, stack, tmp_path / "demo-shop")
    # The files this release wrote (v0.1.0 had no sanitize rules for Django).
    edits = [(rel, text) for rel, text in [*EDITS[stack], *SHARED_EDITS] if (app / rel).exists()]
    assert len(edits) >= 4
    for rel, text in edits:
        with (app / rel).open("a") as edited:
            edited.write(text)
    commit_all(app, "our edits")
    capfd.readouterr()

    update_to_head(app)

    said = capfd.readouterr().err
    for rel, text in edits:
        rel = RENAMED.get(rel, rel)
        assert text in (app / rel).read_text(), f"{rel}: the team's edit is gone"
    marked = sorted(rel for rel, text in tree(app).items() if CONFLICT.search(text))
    for rel in marked:
        assert rel in said, f"{rel} holds conflict markers the update did not name"
    assert ignored(app, ".env")


def test_every_changelog_release_is_tagged_in_a_clone(history):
    tags = git(history, "tag", "--list", "v*").stdout.split()
    assert sorted(tags) == sorted(RELEASES)
    assert len(RELEASES) >= 2
