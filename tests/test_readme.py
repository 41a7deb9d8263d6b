"""The README is the front door: its two commands must be the ones that work, and CI must
run the very test command it shows."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from helpers.paths import ROOT

README = (ROOT / "README.md").read_text()


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, re.S)


def test_readme_shows_the_demo_and_the_test_command():
    commands = [block.strip() for block in shell_blocks()[:2]]
    assert "copier copy --trust --defaults" in commands[0]
    assert commands[1].endswith("python3 -m pytest")


def test_ci_runs_the_readme_test_command_with_require_e2e():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = shell_blocks()[1].strip()
    assert test_command in ci.splitlines()
    assert "export REQUIRE_E2E=1" in ci
    assert "status -eq 5" in ci, "pytest's exit code 5 (no tests) must fail CI"


def test_the_demo_command_generates_an_app(tmp_path):
    demo = shell_blocks()[0].strip().split(" && ", 1)[1]
    argv = shlex.split(demo)
    assert argv[:3] == ["python3", "-m", "copier"]
    argv = [sys.executable, *argv[1:-1], str(tmp_path / "demo-shop")]
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "demo-shop" / "Procfile").read_text().startswith("web: bundle exec puma")
    assert "project_name: demo-shop" in (tmp_path / "demo-shop" / ".copier-answers.heroku.yml").read_text()
