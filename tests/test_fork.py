"""A team fork: it changes a default and adds an add-on in one file, the catalog; the new
add-on is offered at once, its own generation matrix covers it without test edits, and its
apps update from the fork."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.paths import ROOT
from helpers.template import (
    ANSWERS_FILE,
    commit_all,
    generate,
    git,
    release,
    snapshot_template,
    update,
)

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
    update(app)

    plans = [a["plan"] for a in json.loads((app / "app.json").read_text())["addons"]]
    assert plans == ["heroku-postgresql:essential-1", "mailgun:basic"]
    assert "mailgun:basic" in (app / "DEPLOY.md").read_text()
    assert f"_src_path: {fork}" in (app / ".copier-answers.heroku.yml").read_text()


# --------------------------------------------------------------------------- the README's steps

UPSTREAM_URL = "https://github.com/YOUR-ORG/copier-heroku.git"


def readme_block(after: str) -> list[str]:
    """The command lines of the README's first ```sh block after the sentence `after`."""
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(after):].split("```sh\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


def run_lines(lines: list[str], cwd: Path, upstream: Path, edit) -> None:
    """Run the README's lines as written; a comment line is the edit it describes. The
    fork's own test suite (`python3 -m pytest`) is not run inside this test."""
    for line in lines:
        if line.startswith("#"):
            edit(line)
            continue
        if line.startswith("python3 -m pytest"):
            continue
        result = subprocess.run(line.replace(UPSTREAM_URL, str(upstream)), shell=True,
                                cwd=cwd, capture_output=True, text=True,
                                env={**os.environ, "GIT_AUTHOR_NAME": "Acme",
                                     "GIT_AUTHOR_EMAIL": "ops@acme.invalid",
                                     "GIT_COMMITTER_NAME": "Acme",
                                     "GIT_COMMITTER_EMAIL": "ops@acme.invalid"})
        assert result.returncode == 0, f"{line}: {result.stderr}"


def published(path: Path, source: Path) -> Path:
    """A bare repository standing for a GitHub one, holding what `source` pushed."""
    git(path.parent, "init", "-q", "--bare", "--initial-branch=main", path.name)
    git(source, "push", "-q", str(path), "HEAD:main")
    return path


def release_upstream(upstream: Path, version: str, change: str) -> None:
    """Upstream's maintainers release: a heading, the commit, the tags, pushed."""
    deploy = upstream / "template" / "DEPLOY.md.jinja"
    deploy.write_text(deploy.read_text() + f"\n{change}\n")
    changelog = upstream / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(
        "# Changelog\n", f"# Changelog\n\n## {version} (2026-12-01)\n\n- {change}\n", 1))
    commit_all(upstream, f"{version}")
    subprocess.run([sys.executable, "bin/release-tags"], cwd=upstream, check=True,
                   capture_output=True)
    git(upstream, "push", "-q", "origin", "HEAD:main", "--tags")


def copier_update(app: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "copier", "update", "--trust", "--defaults",
                           "-a", ANSWERS_FILE], cwd=app, capture_output=True, text=True,
                          timeout=300)


def test_the_readme_fork_steps_keep_apps_on_the_fork(tmp_path):
    # Upstream: the template with its changelog and release tool, published with its tags.
    work = snapshot_template(tmp_path / "upstream-work")
    shutil.copytree(ROOT / "bin", work / "bin")
    # The versions of the README's example: upstream v0.2.0, then v0.3.0.
    (work / "CHANGELOG.md").write_text("# Changelog\n\n## v0.2.0 (2026-11-01)\n\n- first\n")
    commit_all(work, "v0.2.0")
    upstream = published(tmp_path / "upstream.git", work)
    git(work, "remote", "add", "origin", str(upstream))

    # The fork: a copy of upstream's main (no tags), published, cloned by its maintainers.
    fork_remote = published(tmp_path / "acme.git", work)
    fork = tmp_path / "acme"
    git(tmp_path, "clone", "-q", str(fork_remote), str(fork))

    def fork_edits(comment: str) -> None:
        version = re.search(r'"## (v[^ ]+) \(', comment)[1]
        if "catalog.py" in comment:
            catalog = fork / CATALOG
            catalog.write_text(catalog.read_text() + MAILGUN)
        changelog = fork / "CHANGELOG.acme.md"
        old = changelog.read_text() if changelog.exists() else "# Changelog of acme's fork\n"
        changelog.write_text(old.replace("\n", f"\n\n## {version} (2026-12-01)\n\n- ours\n", 1))

    run_lines(readme_block("Set up once, in the fork's clone"), fork, upstream, fork_edits)
    assert git(fork, "ls-remote", "--tags", "origin").stdout.split()[-1] == \
        "refs/tags/v0.2.0+acme.1"

    # A team app from the fork, with the fork's add-on.
    app = generate(tmp_path / "shop", {"addons": ["heroku-postgresql", "mailgun"]},
                   src=str(fork_remote), vcs_ref=None)
    git(app, "init", "-q")
    commit_all(app, "deploy layer from acme's fork")
    assert "_commit: v0.2.0+acme.1" in (app / ANSWERS_FILE).read_text()

    # Upstream releases; the fork takes it as the README says, and an app updates between
    # the fetch and the fork's new tag: nothing newer for it yet.
    release_upstream(work, "v0.3.0", "Upstream's note of v0.3.0.")
    steps = readme_block("For each upstream release, take its commits")
    retag_at = next(i for i, line in enumerate(steps) if line.startswith("bin/release-tags"))
    run_lines(steps[:retag_at], fork, upstream, fork_edits)
    between = copier_update(app)
    assert between.returncode == 0, between.stderr
    assert git(app, "status", "--porcelain").stdout == ""

    # Someone fetches upstream's tags the careless way and pushes them to the fork: the
    # app's update refuses upstream's v0.3.0, with one sentence, and changes nothing.
    git(fork, "fetch", "-q", "--tags", "upstream")
    git(fork, "push", "-q", "origin", "--tags")
    careless = copier_update(app)
    assert careless.returncode != 0, careless.stdout + careless.stderr
    assert ("copier update refused, nothing was changed: This app follows the acme fork "
            "(version 0.2.0+acme.1), and 0.3.0 is not one of its releases") in careless.stderr
    assert "Traceback" not in careless.stderr
    assert git(app, "status", "--porcelain").stdout == ""

    # The fork re-tags as the README says: the app moves to it and keeps the fork's add-on.
    run_lines(steps[retag_at:], fork, upstream, fork_edits)
    moved = copier_update(app)
    assert moved.returncode == 0, moved.stderr
    answers = (app / ANSWERS_FILE).read_text()
    assert "_commit: v0.3.0+acme.1" in answers
    assert "mailgun" in answers and "mailgun:starter" in (app / "app.json").read_text()
    assert "Upstream's note of v0.3.0." in (app / "DEPLOY.md").read_text()
