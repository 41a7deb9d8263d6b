"""Jinja glue for copier-heroku: registry functions as filters, the plan in the context.

Loaded by copier_template_extensions.TemplateExtensionLoader from copier.yml. The data and
the logic live in registry.py beside this file; this module only exposes them to Jinja.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import secrets
import shlex
import sys
from pathlib import Path
from typing import Any

from copier_template_extensions import ContextHook
from jinja2 import Environment
from jinja2.ext import Extension


def _load_sibling(stem: str):
    # The loader imports this file by path, outside any package, so its siblings are
    # loaded the same way. Always afresh: `copier update` renders two template versions in
    # one process, and each must see its own registry.
    name = f"copier_heroku_{stem}"
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{stem}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


registry = _load_sibling("registry")
dependency_hook = _load_sibling("dependency_hook")


def dependency_line_needed(dst_path: Any, stack: Any) -> bool:
    return dependency_hook.needs_line(Path(str(dst_path)), str(stack))


def dependency_file_missing(dst_path: Any, stack: Any) -> str:
    """The app file that should pull the layer's dependencies in, when it does not exist."""
    include = dependency_hook.INCLUDES[str(stack)]
    return "" if (Path(str(dst_path)) / include.app_file).is_file() else include.app_file


def shell_quote(value: Any) -> str:
    return shlex.quote(str(value))


def ruby_string(value: Any) -> str:
    """A double-quoted Ruby literal; JSON escaping is valid Ruby, and # is escaped so
    nothing is interpolated."""
    return json.dumps(str(value), ensure_ascii=False).replace("#", "\\#")


def remembered_answers(answers: Any) -> dict:
    """The answers file's content, with a local template path made absolute.

    Copier records the template path as typed, relative to where `copier copy` ran, but
    `copier update` runs inside the app and would look for it relative to there instead.
    """
    answers = dict(answers)
    src = str(answers.get("_src_path", ""))
    is_url = "://" in src or src.startswith(("gh:", "gl:", "git@"))
    if src and not is_url and not os.path.isabs(src) and os.path.exists(src):
        answers["_src_path"] = os.path.abspath(src)
    return answers


def random_secret(nbytes: int = 64) -> str:
    """A development secret for the gitignored .env, from the OS CSPRNG."""
    return secrets.token_hex(nbytes)


class HerokuExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # Copier compiles each path part and question text with from_string, the same
        # strings over and over (a folder's name once for every file in it): compile once.
        compile_once = functools.lru_cache(maxsize=None)(environment.from_string)

        def from_string(source, globals=None, template_class=None):
            if globals is None and template_class is None and isinstance(source, str):
                return compile_once(source)
            return Environment.from_string(environment, source, globals, template_class)

        environment.from_string = from_string
        environment.filters.update(
            slugify=registry.slugify,
            app_slug_default=registry.app_slug_default,
            shell_quote=shell_quote,
            ruby_string=ruby_string,
            heroku_app_name_error=registry.heroku_app_name_error,
            team_name_error=registry.team_name_error,
            backup_schedule_error=registry.backup_schedule_error,
            project_name_error=registry.project_name_error,
            stack_error=registry.stack_error,
            python_module_error=registry.python_module_error,
            addons_error=registry.addons_error,
            worker_choice_error=registry.worker_choice_error,
            worker_min_error=registry.worker_min_error,
            worker_max_error=registry.worker_max_error,
            remembered_answers=remembered_answers,
            pretty_json=lambda value, indent=2: json.dumps(value, indent=indent, ensure_ascii=False),
        )
        environment.globals.update(
            registry=registry,
            dependency_line_needed=dependency_line_needed,
            dependency_file_missing=dependency_file_missing,
            dependency_includes=dependency_hook.INCLUDES,
            random_secret=random_secret,
            apps_differ_error=registry.apps_differ_error,
            sanitize_command=registry.sanitize_command,
        )
        environment.filters.update(shell_words=registry.shell_words)


class DeployPlan(ContextHook):
    """Puts `deploy`, the registry's plan for these answers, in every template's context."""

    def hook(self, context: dict[str, Any]) -> None:
        if "stack" not in context or "deploy" in context:
            return
        try:
            context["deploy"] = registry.build_plan(context)
        except (KeyError, TypeError):
            # Questions are still being asked: nothing to plan yet.
            return
