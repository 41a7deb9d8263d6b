"""The README is the front door: its two commands work as written on a fresh clone, with
Debian's own python3 (externally managed, PEP 668) and with pyenv's, and CI runs the very
test command it shows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers.paths import ROOT
from helpers.template import git
from helpers.tools import missing

README = (ROOT / "README.md").read_text()
TRY_IT = README[README.index("## Try it: two commands"):README.index("## Use it")]


def shell_blocks(text: str = TRY_IT) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def test_readme_shows_the_demo_and_the_test_command():
    demo, tests = (block.strip() for block in shell_blocks()[:2])
    assert demo == "bin/demo"
    assert tests.startswith("python3 -m venv .venv && ") and tests.endswith(" -m pytest")


def test_ci_runs_the_readme_test_command_with_require_e2e():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = shell_blocks()[1].strip()
    assert test_command in ci.splitlines()
    assert "export REQUIRE_E2E=1" in ci
    assert "status -eq 5" in ci, "pytest's exit code 5 (no tests) must fail CI"


def working_tree_clone(dst: Path) -> Path:
    """A clean clone of this repository as it stands now, uncommitted files included (the
    ignored ones, such as .venv, left out as a clone leaves them out)."""
    index = dst.parent / "index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "read-tree", "HEAD"], cwd=ROOT, env=env, check=True)
    subprocess.run(["git", "add", "-A"], cwd=ROOT, env=env, check=True)
    tree = subprocess.run(["git", "write-tree"], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()
    commit = git(ROOT, "commit-tree", tree, "-p", "HEAD", "-m", "the working tree").stdout
    git(dst.parent, "clone", "-q", "--no-checkout", str(ROOT), dst.name)
    git(dst, "checkout", "-q", commit.strip())
    return dst


def interpreters() -> list[tuple[str, str]]:
    """Debian's own python3 and the one running the tests (pyenv's, here)."""
    found = [("debian", "/usr/bin/python3")]
    if Path(sys.executable).resolve() != Path("/usr/bin/python3").resolve():
        found.append(("running", sys.executable))
    return found


def with_python3(python: str, tmp: Path) -> dict[str, str]:
    """An environment where `python3` is this interpreter, as on that machine."""
    shims = tmp / "shims"
    shims.mkdir(exist_ok=True)
    (shims / "python3").unlink(missing_ok=True)
    (shims / "python3").symlink_to(python)
    env = {k: v for k, v in os.environ.items() if k not in ("REQUIRE_E2E", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{shims}{os.pathsep}{env['PATH']}", "PYTHON": "python3"}


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
        return response.status, response.read().decode()


@pytest.mark.parametrize("name,python", interpreters(), ids=[n for n, _ in interpreters()])
def test_the_two_commands_work_from_a_clean_clone(tmp_path, name, python):
    if not Path(python).exists():
        missing(f"{python} is not installed")
    if name == "debian" and not list(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED")):
        missing("this machine's python3 is not externally managed (PEP 668)")
    clone = working_tree_clone(tmp_path / "copier-heroku")
    env = with_python3(python, tmp_path)
    demo, tests = (block.strip() for block in shell_blocks()[:2])

    made = subprocess.run(["bash", "-c", demo], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    app = clone / "demo-shop"
    assert "gunicorn" in (app / "Procfile").read_text().splitlines()[0]

    # The demo runs: bin/dev answers /health, then stops on Ctrl-C (SIGINT).
    dev = subprocess.Popen(["bin/dev"], cwd=app, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and dev.poll() is None and answer is None:
            try:
                answer = get("http://127.0.0.1:5000/health")
            except OSError:
                time.sleep(0.3)
        assert answer and answer[0] == 200, dev.stdout.read() if dev.poll() else ""
        assert json.loads(answer[1]) == {"status": "ok"}
    finally:
        os.killpg(dev.pid, 2)
        dev.wait(timeout=30)
    plan = subprocess.run(["bin/heroku-setup", "--dry-run"], cwd=app, env=env,
                          capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert "+ heroku apps:create demo-shop-staging --region us --no-remote" in plan.stdout
    assert plan.stdout.rstrip().endswith("Dry run: nothing was run. Without --dry-run, "
                                         "bin/heroku-setup runs the commands above.")

    # The test command as written; pytest itself runs one quick test of the suite here.
    env["PYTEST_ADDOPTS"] = "-p no:cacheprovider -k test_pyproject_version_is_the_newest"
    ran = subprocess.run(["bash", "-c", tests], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=900)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-2000:]
    assert re.search(r"\b1 passed\b", ran.stdout), ran.stdout[-1000:]
    shutil.rmtree(clone / ".venv")
