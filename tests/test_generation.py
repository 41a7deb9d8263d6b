"""Generation matrix: every choice in copier.yml renders a clean, lint-free deploy layer.

The matrix is read from copier.yml, so a new choice (also a fork's) is covered without
touching this file.
"""

from __future__ import annotations

import json
import py_compile
import re
import subprocess
from pathlib import Path
from typing import Any

import honcho.environ
import pytest
import yaml

from conftest import choice_contexts, choice_values, copier_questions, generate, require_tool


def answer_sets() -> list[tuple[str, dict[str, Any]]]:
    """Default answers, then each choice of each question once, then the edges of the
    multiselects and booleans, with readable ids."""
    sets: list[tuple[str, dict[str, Any]]] = [("defaults", {})]
    for name, question in copier_questions().items():
        if "choices" not in question:
            if question.get("type") == "bool":
                sets.append((f"{name}={not question['default']}", {name: not question["default"]}))
            continue
        values = choice_values(name)
        if question.get("multiselect"):
            sets.append((f"{name}=none", {name: []}))
            sets.append((f"{name}=all", {name: values}))
            sets.extend((f"{name}={v}", {name: [v]}) for v in values)
        else:
            # A choice only some stacks take (a Celery worker) comes with such a stack.
            sets.extend((f"{name}={v}", {**context, name: v})
                        for v, context in choice_contexts(name)
                        if v != question.get("default") or context)
    sets += [
        ("team-and-no-backups", {"heroku_team": "acme-web", "backup_schedule": ""}),
        ("pipeline-with-review-apps", {"pipeline": True, "review_apps": True}),
        ("unicorn-thin-everything", {"web_server": "unicorn", "dev_server": "thin",
                                     "addons": choice_values("addons")}),
    ]
    return sets


ANSWER_SETS = answer_sets()


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


# Jinja's delimiters; a closing "}}" alone is legal in Python and Ruby (nested literals).
LEFTOVER_JINJA = re.compile(r"\{\{|\{%|%\}|\{#\s")


def test_nothing_is_left_unrendered(app):
    for path in files(app):
        assert ".jinja" not in path.name, path
        leftover = LEFTOVER_JINJA.search(path.read_text(encoding="utf-8"))
        assert not leftover, f"{path.relative_to(app)} still contains {leftover.group()!r}"


def test_no_file_is_empty(app):
    for path in files(app):
        assert path.read_text(encoding="utf-8").strip(), f"{path.relative_to(app)} is empty"


def test_yaml_and_json_parse(app):
    for path in files(app):
        if path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(path.read_text())
        elif path.suffix == ".json":
            json.loads(path.read_text())


def test_every_procfile_line_is_a_named_process(app):
    for name in ("Procfile", "Procfile.dev"):
        text = (app / name).read_text()
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines, f"{name} has no process"
        for line in lines:
            assert re.fullmatch(r"[a-z][a-z0-9_]*: \S.*", line), f"{name}: {line!r}"
        processes = honcho.environ.parse_procfile(text).processes
        assert len(processes) == len(lines), f"honcho reads {name} differently: {processes}"
        assert "web" in processes


def test_ruby_files_have_valid_syntax(app):
    ruby = require_tool("ruby")
    ruby_files = [p for p in files(app) if is_ruby(p)]
    if "stack: rails" in (app / ".copier-answers.yml").read_text():
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
