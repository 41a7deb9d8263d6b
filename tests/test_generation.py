"""Generation matrix: every pair of answers in copier.yml renders a clean, lint-free deploy
layer, holding exactly the files its plan lists.

The matrix is read from copier.yml as Copier renders it (choices from the catalog, `when:`
from the plan), so a new choice, also a fork's, is covered without touching this file.
Pairwise: every two choice or yes/no questions meet in every pair of values they allow
together, in a few answer sets; free-text answers get their own cells below.
"""

from __future__ import annotations

import json
import py_compile
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import honcho.environ
import pytest
import yaml
from copier_heroku import build_plan
from helpers.paths import ROOT
from helpers.questions import cell_id, pairwise
from helpers.template import generate
from helpers.tools import require_tool

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

# Free-text answers at their edges, on top of the pairwise cells.
EDGES: list[tuple[str, dict[str, Any]]] = [
    ("team-and-no-backups", {"heroku_team": "acme-web", "backup_schedule": ""}),
    ("autoscaled-from-zero", {"stack": "django", "worker": "celery", "autoscaler": "hirefire",
                              "worker_min": "0", "worker_max": "100"}),
    ("good-job-without-addons", {"worker": "good_job", "addons": []}),
]
ANSWER_SETS = [("defaults", {}), *((cell_id(a), a) for a in pairwise()), *EDGES]


@pytest.fixture(scope="module", params=ANSWER_SETS, ids=[i for i, _ in ANSWER_SETS])
def app(request, tmp_path_factory) -> Path:
    _, data = request.param
    return generate(tmp_path_factory.mktemp("matrix") / "app", data)


def files(app: Path) -> list[Path]:
    return sorted(p for p in app.rglob("*") if p.is_file() and ".git" not in p.parts)


def is_shell_script(path: Path) -> bool:
    head = path.read_bytes()[:40]
    return head.startswith(b"#!") and b"bash" in head.splitlines()[0]


def is_ruby(path: Path) -> bool:
    return path.suffix in {".rb", ".rake"} or path.name.startswith("Gemfile")


def recorded_answers(app: Path) -> dict[str, Any]:
    return yaml.safe_load((app / ".copier-answers.heroku.yml").read_text())


# Jinja's delimiters; a closing "}}" alone is legal in Python and Ruby (nested literals).
LEFTOVER_JINJA = re.compile(r"\{\{|\{%|%\}|\{#\s")


def test_the_tree_is_exactly_the_files_the_plan_lists(app):
    """What DEPLOY.md and the scripts document is there, and nothing else is."""
    plan = build_plan(recorded_answers(app))
    written = sorted(str(p.relative_to(app)) for p in files(app))
    assert written == plan.files()


def test_no_folder_is_left_empty(app):
    empty = [p.relative_to(app) for p in app.rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert not empty


def copied_verbatim(app: Path) -> set[str]:
    """The app's files that come from a template file without the .jinja suffix: Copier
    copies them as they are, and their braces are Python's or Ruby's."""
    module = recorded_answers(app).get("python_module", "")
    template = ROOT / "template"
    return {str(p.relative_to(template)).replace("{{ python_module }}", module)
            for p in template.rglob("*") if p.is_file() and p.suffix != ".jinja"}


def test_nothing_is_left_unrendered(app):
    verbatim = copied_verbatim(app)
    for path in files(app):
        assert ".jinja" not in path.name, path
        if str(path.relative_to(app)) in verbatim:
            continue
        leftover = LEFTOVER_JINJA.search(path.read_text(encoding="utf-8"))
        assert not leftover, f"{path.relative_to(app)} still contains {leftover.group()!r}"


def test_no_file_is_empty(app):
    for path in files(app):
        assert path.read_text(encoding="utf-8").strip(), f"{path.relative_to(app)} is empty"


def test_yaml_json_and_toml_parse(app):
    for path in files(app):
        if path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(path.read_text())
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())


def test_every_procfile_line_is_a_named_process(app):
    for name in ("Procfile", "Procfile.dev"):
        text = (app / name).read_text()
        # Comments (Procfile.dev's marked block) are skipped by foreman and honcho alike.
        lines = [line for line in text.splitlines()
                 if line.strip() and not line.startswith("#")]
        assert lines, f"{name} has no process"
        for line in lines:
            assert re.fullmatch(r"[a-z][a-z0-9_]*: \S.*", line), f"{name}: {line!r}"
        processes = honcho.environ.parse_procfile(text).processes
        assert len(processes) == len(lines), f"honcho reads {name} differently: {processes}"
        assert "web" in processes


def test_ruby_files_have_valid_syntax(app):
    ruby = require_tool("ruby")
    ruby_files = [p for p in files(app) if is_ruby(p)]
    if build_plan(recorded_answers(app)).ruby:
        assert ruby_files
    for path in ruby_files:
        result = subprocess.run([ruby, "-c", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path.relative_to(app)}: {result.stderr}"


def test_shell_scripts_pass_bash_n_and_shellcheck(app):
    shellcheck = require_tool("shellcheck")
    scripts = [p for p in files(app) if is_shell_script(p)]
    assert scripts
    for path in scripts:
        assert path.stat().st_mode & 0o111, f"{path.relative_to(app)} is not executable"
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path.relative_to(app)}: {result.stderr}"
    result = subprocess.run([shellcheck, "-x", "-P", "SCRIPTDIR", *map(str, scripts)],
                            capture_output=True, text=True, cwd=app)
    assert result.returncode == 0, result.stdout


def test_python_files_compile_and_pass_ruff(app):
    python_files = [p for p in files(app) if p.suffix == ".py"]
    for path in python_files:
        py_compile.compile(str(path), doraise=True)
    if python_files:
        ruff = require_tool("ruff")
        result = subprocess.run([ruff, "check", "--no-cache", "--isolated",
                                 *map(str, python_files)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
