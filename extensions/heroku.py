"""Jinja glue for copier-heroku: the catalog and the plan, exposed to Copier's templates.

Loaded by copier_template_extensions.TemplateExtensionLoader from copier.yml, one class per
concern. The data and the logic live in the package copier_heroku/ beside this file; this
module only hands them to Jinja.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import secrets
import shlex
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from copier_template_extensions import ContextHook
from jinja2 import Environment
from jinja2.ext import Extension

PACKAGE = "copier_heroku"


@contextmanager
def _own_modules() -> Iterator[None]:
    """Import this template version's copier_heroku, not one imported before.

    `copier update` renders two template versions in one process, each with its own
    catalog; a test suite imports the package too. So the package is imported afresh from
    beside this file, and whatever was in sys.modules under its name is put back after."""
    def ours(name: str) -> bool:
        return name == PACKAGE or name.startswith(PACKAGE + ".")

    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in saved:
        del sys.modules[name]
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)
    try:
        yield
    finally:
        sys.path.remove(here)
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


with _own_modules():
    copier_heroku = importlib.import_module(PACKAGE)


def _load_sibling_script(stem: str):
    """A task script beside this file, as a module (its functions, not its main)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"copier_heroku_{stem}", Path(__file__).resolve().with_name(f"{stem}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


update_guard = _load_sibling_script("update_guard")

answers = copier_heroku.answers
catalog = copier_heroku.catalog


class CompileOnce(Extension):
    """Copier compiles each path part and question text with from_string, the same strings
    over and over (a folder's name once for every file in it): compile each once."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        compile_once = functools.lru_cache(maxsize=None)(environment.from_string)

        def from_string(source, globals=None, template_class=None):
            if globals is None and template_class is None and isinstance(source, str):
                return compile_once(source)
            return Environment.from_string(environment, source, globals, template_class)

        environment.from_string = from_string


class Questions(Extension):
    """copier.yml's side: choices from the catalog, validators, derived defaults."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(answers.VALIDATORS)
        environment.filters.update(slugify=answers.slugify,
                                   app_slug_default=answers.app_slug_default)
        environment.globals.update(choices=answers.choices,
                                   apps_differ_error=answers.apps_differ_error,
                                   newest_version=answers.newest_version)


def shell_quote(value: Any) -> str:
    return shlex.quote(str(value))


def shell_words(command: Any) -> str:
    """A command line with each word shell-quoted, so a rendered script runs exactly the
    words the catalog lists (`bin/rails db:migrate` stays two words)."""
    return shlex.join(shlex.split(str(command)))


def ruby_string(value: Any) -> str:
    """A double-quoted Ruby literal; JSON escaping is valid Ruby, and # is escaped so
    nothing is interpolated."""
    return json.dumps(str(value), ensure_ascii=False).replace("#", "\\#")


def pretty_json(value: Any, indent: int = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


class Quoting(Extension):
    """Filters that write a value safely into a shell script, Ruby or JSON."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(shell_quote=shell_quote, shell_words=shell_words,
                                   ruby_string=ruby_string, pretty_json=pretty_json)


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


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def detected_package_manager(dst_path: Any) -> str:
    """The package manager the destination's files name (uv.lock, poetry.lock,
    Pipfile.lock, requirements.txt, a pyproject.toml), else the catalog's default: the
    `python_package_manager` question's default. Reads file names, runs nothing."""
    folder = Path(str(dst_path))
    try:
        names = set(os.listdir(folder))
    except OSError:
        names = set()
    pyproject = (_read(folder / "pyproject.toml") or "") if "pyproject.toml" in names else ""
    return (copier_heroku.python_packages.detect(names, pyproject)
            or catalog.DEFAULT_PACKAGE_MANAGER)


def lock_work(dst_path: Any, plan: Any, *, lock_only: bool = False) -> str:
    """The command that would put the layer's packages in the app's lock, "" when none is
    needed (pip and Ruby: never; see copier_heroku/python_packages.py)."""
    pm = plan.package_manager
    if not (pm and pm.project_file):
        return ""
    folder = Path(str(dst_path))
    return copier_heroku.python_packages.lock_work(
        pm, plan.packages, _read(folder / pm.project_file), _read(folder / pm.lock_file),
        lock_only=lock_only)


def lock_tool_on_path(command: str) -> bool:
    return bool(command) and shutil.which(shlex.split(command)[0]) is not None


def app_files_need_work(dst_path: Any, plan: Any) -> bool:
    """Whether the task extensions/app_files.py has anything to do: an include line, a
    marked block or a database URL missing or stale, an older release's unedited file, or
    the layer's packages missing from the lock while the app's package manager is on PATH
    to add them (Copier's `when:` asks this, sparing a process; it runs none itself)."""
    folder = Path(str(dst_path))
    if any(copier_heroku.owned_lines.is_legacy(
            path, (folder / path).read_text(encoding="utf-8"))
           for path in copier_heroku.owned_lines.LEGACY_WHOLE_FILES
           if path in plan.owned_blocks and (folder / path).is_file()):
        return True
    return bool(copier_heroku.owned_lines.changes(
        {path: (folder / path).read_text(encoding="utf-8") if (folder / path).is_file()
         else None
         for path in [*plan.owned_blocks,
                      *([plan.dependency_include.app_file] if plan.dependency_include else []),
                      *([plan.database_config] if plan.database_config else [])]},
        blocks=plan.owned_blocks, include=plan.dependency_include,
        database_config=plan.database_config)) or \
        lock_tool_on_path(lock_work(dst_path, plan, lock_only=True))


def detected_version(dst_path: Any, stack: Any) -> str:
    """The framework's release line the app's lock file locks (Gemfile.lock's railties),
    as the stack's version question spells it; "" when there is no lock file or no such
    entry."""
    if not getattr(stack, "version_package", ""):
        return ""
    lock = Path(str(dst_path)) / "Gemfile.lock"
    if not lock.is_file():
        return ""
    return answers.detect_version(stack, lock.read_text(encoding="utf-8", errors="replace"))


def stack_change_error(stack: Any, dst_path: Any) -> str:
    """Refuses, at the prompt, a stack other than the one the app's answers file records."""
    return update_guard.stack_change_error(update_guard.recorded(Path(str(dst_path)), "stack"),
                                           str(stack))


def dependency_file_missing(dst_path: Any, plan: Any) -> str:
    """The app file that should pull the layer's dependencies in, when it does not exist."""
    include = plan.dependency_include
    if not include:
        return ""
    return "" if (Path(str(dst_path)) / include.app_file).is_file() else include.app_file


def poetry_root_missing(dst_path: Any, plan: Any) -> str:
    """A Poetry project's name when `poetry sync` would find no package of it to install
    (copier_heroku/python_packages.py), "" otherwise and for package managers that never
    install the project."""
    pm = plan.package_manager
    if not (pm and pm.installs_the_project):
        return ""
    folder = Path(str(dst_path))
    text = _read(folder / pm.project_file)
    if text is None:
        return ""
    return copier_heroku.python_packages.poetry_root_missing(
        text, lambda path: (folder / path).exists())


def package_manager_files(dst_path: Any) -> list[str]:
    """The package-manager files Heroku's Python buildpack finds in the destination; more
    than one stops its build."""
    folder = Path(str(dst_path))
    return [pm.marker for pm in catalog.PACKAGE_MANAGERS.values()
            if (folder / pm.marker).is_file()]


class AppFolder(Extension):
    """What the templates and tasks may learn from the destination folder: the answers
    file, the development secret, the work left for the app-files task."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(remembered_answers=remembered_answers,
                                   stack_change_error=stack_change_error)
        environment.globals.update(random_secret=random_secret,
                                   app_files_need_work=app_files_need_work,
                                   dependency_file_missing=dependency_file_missing,
                                   detected_version=detected_version,
                                   detected_package_manager=detected_package_manager,
                                   lock_work=lock_work,
                                   package_manager_files=package_manager_files,
                                   poetry_root_missing=poetry_root_missing)


class DeployPlan(ContextHook):
    """Puts `deploy`, the plan for the answers given so far, in every template's context."""

    def hook(self, context: dict[str, Any]) -> None:
        # Planned afresh for every render, never taken from the context: `copier update`
        # renders an older release first, whose own hook may have left its plan there.
        context.pop("deploy", None)
        if "stack" not in context:
            return
        try:
            context["deploy"] = copier_heroku.build_plan(context)
        except (KeyError, TypeError):
            # The stack is not answered yet, or not one this release knows: nothing to plan.
            return
