"""copier.yml's questions as Copier renders them, and the generation matrix built from them.

Choices come from the catalog through templated `choices:`, and a question's `when:` reads
the plan of the answers so far; so the matrix renders both with the template's own Jinja
extensions, as Copier does, and a fork's new choice is covered without a test edit.
"""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path
from typing import Any, Iterator

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from helpers.paths import ROOT

ABSENT = "(not asked)"


def copier_questions(root: Path = ROOT) -> dict[str, Any]:
    """copier.yml's questions (keys without a leading underscore), in order."""
    return dict(_questions(root, (root / "copier.yml").stat().st_mtime_ns))


@functools.lru_cache(maxsize=None)
def _questions(root: Path, _mtime: int) -> dict[str, Any]:
    data = yaml.safe_load((root / "copier.yml").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


@functools.lru_cache(maxsize=None)
def _environment(root: Path = ROOT) -> SandboxedEnvironment:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"copier_heroku_glue_{abs(hash(root))}", root / "extensions" / "heroku.py")
    glue = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(glue)
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        extensions=[glue.CompileOnce, glue.Questions, glue.Quoting, glue.AppFolder,
                    glue.DeployPlan])


def render(text: str, answers: dict[str, Any], root: Path = ROOT) -> str:
    """Renders a copier.yml string under these answers, with `deploy` planned as Copier's
    context hook does (it runs when the context holds _copier_conf)."""
    context = {"_copier_conf": {"dst_path": "/nonexistent"}, **answers}
    return _environment(root).from_string(str(text)).render(context)


def is_asked(question: str, answers: dict[str, Any], root: Path = ROOT) -> bool:
    when = copier_questions(root)[question].get("when", True)
    if isinstance(when, bool):
        return when
    return render(when, answers, root).strip().lower() in ("true", "yes", "1", "y", "on")


def default_answers(root: Path = ROOT) -> dict[str, Any]:
    """The defaults that need no rendering (stack: rails ...): what a question's choices see
    when a test names no answer before it."""
    return {name: spec["default"] for name, spec in copier_questions(root).items()
            if "default" in spec and "{{" not in str(spec["default"])}


def offered(question: str, answers: dict[str, Any] | None = None,
            root: Path = ROOT) -> list[tuple[Any, str]]:
    """(value, why it is disabled or "") for each choice the prompt shows, under these
    answers (the defaults for the others)."""
    spec = copier_questions(root)[question]
    choices = spec.get("choices", {})
    answers = {**default_answers(root), **(answers or {})}
    if isinstance(choices, str):
        text = render(choices, answers, root)
        # The catalog renders JSON, a subset of YAML that parses faster.
        choices = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    items = choices.items() if isinstance(choices, dict) else ((c, c) for c in choices)
    result = []
    for _, value in items:
        if isinstance(value, dict):
            result.append((value["value"], render(value.get("validator", ""), answers,
                                                  root).strip()))
        else:
            result.append((value, ""))
    return result


def choice_values(question: str, answers: dict[str, Any] | None = None,
                  root: Path = ROOT) -> list[Any]:
    """The values a question offers and accepts under these answers (defaults otherwise)."""
    return [value for value, disabled in offered(question, answers, root) if not disabled]


def _enumerate(questions: list[tuple[str, dict]], answers: dict[str, Any],
               root: Path) -> Iterator[dict[str, Any]]:
    if not questions:
        yield dict(answers)
        return
    (name, spec), rest = questions[0], questions[1:]
    kind = "choices" if "choices" in spec else spec.get("type")
    if kind not in ("choices", "bool") or not is_asked(name, answers, root):
        yield from _enumerate(rest, answers, root)
        return
    if kind == "bool":
        values: list[Any] = [True, False]
    elif spec.get("multiselect"):
        options = choice_values(name, answers, root)
        values = [list(c) for n in range(len(options) + 1)
                  for c in itertools.combinations(options, n)]
    else:
        values = choice_values(name, answers, root)
    for value in values:
        yield from _enumerate(rest, {**answers, name: value}, root)


def answer_combinations(root: Path = ROOT) -> list[dict[str, Any]]:
    """Every combination of the choice and yes/no answers the prompts allow (free-text
    answers keep their defaults): a question is asked only when its `when:` says so, and a
    choice only when it is enabled for the answers before it."""
    return list(_enumerate(list(copier_questions(root).items()), {}, root))


_parameters_cache: dict[str, list[Any]] = {}


def _parameters(answers: dict[str, Any], root: Path) -> dict[str, Any]:
    """One answer set as parameters for pairwise coverage: a multiselect becomes one
    yes/no parameter per choice it offers."""
    params: dict[str, Any] = {}
    for name, spec in copier_questions(root).items():
        if spec.get("multiselect"):
            if name not in _parameters_cache:
                _parameters_cache[name] = [v for v, _ in offered(name, {}, root)]
            for value in _parameters_cache[name]:
                params[f"{name}={value}"] = (value in answers[name]) if name in answers \
                    else ABSENT
        elif "choices" in spec or spec.get("type") == "bool":
            params[name] = answers.get(name, ABSENT)
    return params


@functools.lru_cache(maxsize=None)
def pairwise(root: Path = ROOT) -> list[dict[str, Any]]:
    """Few answer sets that together hold every pair of values of any two questions that
    some allowed combination holds (greedy: each pick covers the most pairs not yet held)."""
    combinations = answer_combinations(root)
    encoded = []
    _parameters_cache.clear()
    for answers in combinations:
        params = sorted(_parameters(answers, root).items())
        encoded.append(frozenset(
            (a, json.dumps(va), b, json.dumps(vb))
            for (a, va), (b, vb) in itertools.combinations(params, 2)))
    uncovered = set().union(*encoded)
    chosen = []
    while uncovered:
        best = max(range(len(encoded)), key=lambda i: len(encoded[i] & uncovered))
        chosen.append(combinations[best])
        uncovered -= encoded[best]
    return chosen


def cell_id(answers: dict[str, Any]) -> str:
    """A readable id: each answer, multiselects as the chosen values joined by '+'."""
    parts = []
    for name, value in answers.items():
        if isinstance(value, list):
            value = "+".join(value) or "none"
        parts.append(f"{name}={value}")
    return ",".join(parts) or "defaults"
