"""A team fork: it changes a default and adds an add-on in one file, the catalog; the new
add-on is offered at once, its own generation matrix covers it without test edits, and its
apps update from the fork."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from copier import run_update
from helpers.paths import ROOT
from helpers.template import commit_all, generate, git, release, snapshot_template

CATALOG = Path("extensions") / "copier_heroku" / "catalog.py"
# What a team appends to the catalog to offer one more add-on.
MAILGUN = '''

ADDONS["mailgun"] = Addon(
    key="mailgun",
    label="Mailgun e-mail",
    plan="starter",
    provides=(
        ConfigVar("MAILGUN_API_KEY", "Mailgun API key.", "your-mailgun-api-key",
                  source="mailgun add-on", secret=True),
        ConfigVar("MAILGUN_DOMAIN", "Domain Mailgun sends from.", "mg.example.com",
                  source="mailgun add-on"),
    ),
    docs="https://devcenter.heroku.com/articles/mailgun",
)
'''


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def make_fork(dst: Path) -> Path:
    fork = snapshot_template(dst)
    for part in ("tests", "pyproject.toml"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, fork / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, fork / part)
    catalog = fork / CATALOG
    # A default changes in one place: every app.json, setup script and DEPLOY.md follows.
    edit(catalog, '        plan="essential-0",', '        plan="essential-1",')
    # ... and a new add-on is one entry, offered by the `addons` question at once.
    catalog.write_text(catalog.read_text() + MAILGUN)
    release(fork, "v1.0.0")
    return fork


def test_a_fork_matrix_covers_its_new_choice_without_test_edits(tmp_path):
    fork = make_fork(tmp_path / "acme-copier-heroku")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "mailgun",
         "tests/test_generation.py"], cwd=fork, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    counts = {word: int(number) for number, word in
              (part.split()[:2] for part in summary.split(" in ")[0].split(", "))}
    # Every check of the matrix ran for each cell with mailgun; one that needs a missing
    # tool (shellcheck, ruby) skipped there, as the fork's own suite allows on a laptop.
    checks = sum(1 for line in (ROOT / "tests" / "test_generation.py").read_text().splitlines()
                 if line.startswith("def test_"))
    assert counts.get("passed", 0) + counts.get("skipped", 0) >= checks, summary
    assert counts.get("passed", 0) > 0, summary


def test_an_app_from_the_fork_gets_its_defaults_and_updates_from_it(tmp_path):
    fork = make_fork(tmp_path / "acme-copier-heroku")
    app = generate(tmp_path / "shop", {"addons": ["heroku-postgresql", "mailgun"]}, src=fork,
                   vcs_ref="v1.0.0")
    plans = [a["plan"] for a in json.loads((app / "app.json").read_text())["addons"]]
    assert plans == ["heroku-postgresql:essential-1", "mailgun:starter"]
    assert "MAILGUN_API_KEY=your-mailgun-api-key" in (app / ".env.example").read_text()
    git(app, "init", "-q")
    commit_all(app, "deploy layer from the fork")

    edit(fork / CATALOG, 'plan="starter"', 'plan="basic"')
    release(fork, "v1.1.0")
    run_update(str(app), defaults=True, overwrite=True, unsafe=True, quiet=True)

    plans = [a["plan"] for a in json.loads((app / "app.json").read_text())["addons"]]
    assert plans == ["heroku-postgresql:essential-1", "mailgun:basic"]
    assert "mailgun:basic" in (app / "DEPLOY.md").read_text()
    assert f"_src_path: {fork}" in (app / ".copier-answers.yml").read_text()
