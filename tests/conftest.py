"""Shared test helpers: where the template is, how to generate an app, which tools exist.

A test that needs a system tool (ruby, shellcheck, postgres, the Heroku CLI manifest ...)
calls `require_tool`: on a laptop without it the test skips with the reason; with
REQUIRE_E2E=1, as .ci/run sets it, the missing tool is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "extensions"))
sys.path.insert(0, str(TESTS))

REQUIRE_E2E = os.environ.get("REQUIRE_E2E") == "1"
# Where .ci/run installs the npm package `heroku`; HEROKU_CLI_DIR overrides it.
HEROKU_CLI_DIR = Path(os.environ.get(
    "HEROKU_CLI_DIR", Path.home() / ".cache" / "copier-heroku" / "heroku-cli"))


def missing(reason: str) -> None:
    """Skip on a laptop, fail under REQUIRE_E2E=1."""
    if REQUIRE_E2E:
        pytest.fail(f"REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        missing(f"`{name}` is not installed")
    return path


def copier_questions() -> dict[str, Any]:
    """copier.yml's questions (keys without a leading underscore)."""
    data = yaml.safe_load((ROOT / "copier.yml").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def choice_refused(validator: str, answers: dict[str, Any] | None = None) -> bool:
    """Whether a choice's validator refuses it under the default answers plus `answers`."""
    from jinja2 import Environment

    from extensions.heroku import HerokuExtension

    context = {q: spec.get("default") for q, spec in copier_questions().items()}
    context.update(answers or {})
    return bool(Environment(extensions=[HerokuExtension]).from_string(validator)
                .render(context).strip())


def choice_contexts(question: str) -> list[tuple[Any, dict[str, Any]]]:
    """Every value a question offers, each with the answers under which it is accepted:
    {} for the default answers, else the first stack that takes it (a Celery worker needs
    a Python stack). A choice no stack accepts is left out: the prompt never offers it."""
    choices = copier_questions()[question].get("choices", {})
    contexts = []
    for value in choices.values() if isinstance(choices, dict) else choices:
        if not isinstance(value, dict):
            contexts.append((value, {}))
            continue
        candidates = [{}, *({"stack": stack} for stack in choice_plain_values("stack"))]
        accepted = [c for c in candidates
                    if not value.get("validator") or not choice_refused(value["validator"], c)]
        if accepted:
            contexts.append((value["value"], accepted[0]))
    return contexts


def choice_plain_values(question: str) -> list[Any]:
    choices = copier_questions()[question].get("choices", {})
    return [v["value"] if isinstance(v, dict) else v
            for v in (choices.values() if isinstance(choices, dict) else choices)]


def choice_values(question: str) -> list[Any]:
    """The values a question offers and accepts under the default answers."""
    return [value for value, context in choice_contexts(question) if not context]


def generate(dst: Path, data: dict[str, Any] | None = None, *, vcs_ref: str | None = "HEAD",
             src: Path | str = ROOT, **kwargs: Any) -> Path:
    """Run `copier copy` with default answers plus `data`, like `copier copy --defaults`."""
    from copier import run_copy

    answers = {"project_name": "Demo Shop", **(data or {})}
    options = {"defaults": True, "unsafe": True, "quiet": True, **kwargs}
    run_copy(str(src), str(dst), data=answers, vcs_ref=vcs_ref, **options)
    return dst


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, check=check, text=True,
                          capture_output=True, env=env)


TEMPLATE_PARTS = ("copier.yml", "template", "extensions", "includes")


def snapshot_template(dst: Path) -> Path:
    """The working tree's template (uncommitted edits included) as a repository of its own."""
    dst.mkdir()
    for part in TEMPLATE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / part)
    git(dst, "init", "-q")
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "template")
    return dst


def release(template: Path, tag: str) -> None:
    git(template, "add", "-A")
    git(template, "commit", "-qm", f"release {tag}", "--allow-empty")
    git(template, "tag", tag)


def commit_all(app: Path, message: str) -> None:
    git(app, "add", "-A")
    git(app, "commit", "-qm", message)


@pytest.fixture
def template_repo(tmp_path) -> Path:
    """The template as a repository of its own, released as v1.0.0."""
    repo = snapshot_template(tmp_path / "template")
    release(repo, "v1.0.0")
    return repo


@pytest.fixture(scope="session")
def default_app(tmp_path_factory) -> Path:
    """One app generated with the default answers, shared by read-only tests."""
    return generate(tmp_path_factory.mktemp("default") / "app")
