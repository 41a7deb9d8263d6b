"""The shipped _migrations, from the release before them: an app updated across a renamed
file keeps its edits under the new name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml
from copier import run_update
from helpers.paths import ROOT
from helpers.template import commit_all, generate, git, release, snapshot_template

OLD_HELPER = "bin/lib/heroku.sh"
NEW_HELPER = "bin/lib/heroku.bash"


def as_v0_1_0(template: Path) -> None:
    """Undo v0.2.0's rename in a snapshot of the template: the layout v0.1.0 shipped."""
    (template / "template" / f"{NEW_HELPER}.jinja").rename(
        template / "template" / f"{OLD_HELPER}.jinja")
    for script in (template / "template" / "bin").glob("*.jinja"):
        script.write_text(script.read_text().replace(NEW_HELPER, OLD_HELPER)
                          .replace("/lib/heroku.bash", "/lib/heroku.sh"))


def test_the_v0_2_0_migration_is_shipped():
    config = yaml.safe_load((ROOT / "copier.yml").read_text())
    moves = [m for m in config["_migrations"] if isinstance(m, dict) and m.get("version")]
    assert any(m["version"] == "v0.2.0" and OLD_HELPER in m["command"]
               and NEW_HELPER in m["command"] for m in moves)


def templates_v0_1_0_and_v0_2_0(tmp_path: Path) -> Path:
    template = snapshot_template(tmp_path / "template")
    as_v0_1_0(template)
    release(template, "v0.1.0")
    return template


def release_current_as_v0_2_0(template: Path) -> None:
    shutil.rmtree(template / "template")
    shutil.copytree(ROOT / "template", template / "template",
                    ignore=shutil.ignore_patterns("__pycache__"))
    release(template, "v0.2.0")


def app_at_v0_1_0(template: Path, dst: Path) -> Path:
    app = generate(dst, src=template, vcs_ref="v0.1.0")
    git(app, "init", "-q")
    commit_all(app, "deploy layer v0.1.0")
    return app


def scripts_work(app: Path) -> bool:
    setup = subprocess.run(["bin/heroku-setup", "--help"], cwd=app, capture_output=True,
                           text=True)
    return setup.returncode == 0 and "Usage" in setup.stdout + setup.stderr


def test_update_from_v0_1_0_renames_an_untouched_helper_cleanly(tmp_path):
    template = templates_v0_1_0_and_v0_2_0(tmp_path)
    app = app_at_v0_1_0(template, tmp_path / "demo-shop")
    release_current_as_v0_2_0(template)

    run_update(str(app), defaults=True, overwrite=True, unsafe=True, quiet=True)

    assert not (app / OLD_HELPER).exists()
    assert "<<<<<<<" not in (app / NEW_HELPER).read_text()
    assert scripts_work(app)


def test_update_from_v0_1_0_carries_the_apps_edits_to_the_new_name(tmp_path, capfd):
    """Without the migration Copier deletes the edited old file and writes the new one
    fresh: the edit would be gone. With it, the edit lands in the new file, where the
    merge shows it for review (both sides 'added' the file, so Git cannot tell)."""
    template = templates_v0_1_0_and_v0_2_0(tmp_path)
    app = app_at_v0_1_0(template, tmp_path / "demo-shop")
    helper = (app / OLD_HELPER).read_text().splitlines(keepends=True)
    note = "# Our team's note: ask #ops before changing the add-on bootstrap.\n"
    helper.insert(1, note)
    (app / OLD_HELPER).write_text("".join(helper))
    commit_all(app, "our note in the helper")
    release_current_as_v0_2_0(template)
    capfd.readouterr()

    run_update(str(app), defaults=True, overwrite=True, unsafe=True, quiet=True)

    told = capfd.readouterr()
    assert f"Moved {OLD_HELPER} to {NEW_HELPER}: the template renamed it." in told.out
    assert f"copier update left conflicts in 1 file(s): {NEW_HELPER}." in told.err
    assert not (app / OLD_HELPER).exists()
    moved = (app / NEW_HELPER).read_text()
    assert note in moved
    # Resolving keeps both sides: the note and the new version.
    resolved = "".join(line for line in moved.splitlines(keepends=True)
                       if not line.startswith(("<<<<<<< ", "=======", ">>>>>>> ")))
    (app / NEW_HELPER).write_text(resolved)
    assert scripts_work(app)
