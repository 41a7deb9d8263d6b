"""The layer's packages in a Python app's own package manager: pure functions on file names
and file text (the Jinja glue and the task read the files).

Heroku's Python buildpack installs from exactly one package-manager file
(lib/package_manager.sh): `requirements.txt` (pip), `poetry.lock`, `uv.lock` or
`Pipfile.lock`. So the layer finds out which one the app uses, writes no second one, and puts
its packages where that package manager reads them: requirements-deploy.txt for pip, the
project file and the lock (through the tool itself: `uv add`, `poetry add`) for the others.
The buildpack runs `uv sync --locked` and `poetry sync`, which stop on a lock that lags
behind the project file, so the lock matters, not only the project file.
"""

from __future__ import annotations

import re
import shlex
from typing import Collection, Iterable, Mapping

from .model import Package, PackageManager

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalized(name: str) -> str:
    """A package name as PyPI and the lock files spell it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(package: Package) -> str:
    """`Django>=4.2,<6`: what a requirements file or `uv add` takes."""
    return f"{package.name}{package.requirement}"


def requirement_name(text: str) -> str:
    """The normalized name of a requirement string (`psycopg[binary] (>=3.1)`: psycopg)."""
    match = _NAME.match(text)
    return normalized(match.group(1)) if match else ""


# --------------------------------------------------------------------------- which one


def detect(names: Collection[str], pyproject: str = "") -> str:
    """The package manager an app uses, from the files in its folder ("" when none says).

    A lock file decides first, as it is what the buildpack installs from; then
    requirements.txt; then a pyproject.toml without a lock: Poetry's when it names Poetry,
    else uv's (a `uv init` project has no uv.lock until its first `uv lock`)."""
    for marker, key in (("uv.lock", "uv"), ("poetry.lock", "poetry"),
                        ("Pipfile.lock", "pipenv"), ("Pipfile", "pipenv"),
                        ("requirements.txt", "pip")):
        if marker in names:
            return key
    if "pyproject.toml" in names:
        return "poetry" if re.search(r"^\[tool\.poetry|poetry[-.]core", pyproject, re.M) \
            else "uv"
    return ""


def markers_present(names: Collection[str],
                    managers: Mapping[str, PackageManager]) -> list[str]:
    """The buildpack's package-manager files among `names`; more than one stops a build."""
    return [pm.marker for pm in managers.values() if pm.marker in names]


# --------------------------------------------------------------------------- what is declared


def _toml(text: str) -> dict | None:
    try:
        import tomllib
    except ImportError:  # Python 3.10: Copier runs there too; the fallback below reads it
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _table_keys(text: str, table: str) -> set[str]:
    """Keys of one TOML table, read line by line (the fallback without tomllib)."""
    keys: set[str] = set()
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == f"[{table}]"
            continue
        match = re.match(r'["\']?([A-Za-z0-9][A-Za-z0-9._-]*)["\']?\s*=', stripped)
        if inside and match:
            keys.add(normalized(match.group(1)))
    return keys


def _project_dependencies(text: str) -> set[str]:
    """[project].dependencies, read without tomllib: the strings of its array."""
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not project:
        return set()
    start = re.search(r"^dependencies\s*=\s*\[", project.group(1), re.M)
    if not start:
        return set()
    names = set()
    # Strings up to the array's closing bracket; a bracket inside a string (an extra, as
    # in psycopg[binary]) is part of the string.
    for token in re.finditer(r'"[^"]*"|\'[^\']*\'|\]', project.group(1)[start.end():]):
        if token.group() == "]":
            break
        names.add(requirement_name(token.group()[1:-1]))
    return names


def declared(project_file: str, text: str) -> set[str]:
    """Normalized names of the packages a project file asks for in production: PEP 621's
    [project].dependencies (uv, Poetry 2), [tool.poetry.dependencies] (Poetry 1), a
    Pipfile's [packages]. Development groups do not count: the buildpack skips them."""
    names: set[str] = set()
    data = _toml(text)
    if project_file == "Pipfile":
        if data is not None:
            return {normalized(k) for k in data.get("packages", {})}
        return _table_keys(text, "packages")
    if data is not None:
        names |= {requirement_name(r) for r in data.get("project", {}).get("dependencies", [])}
        poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
        names |= {normalized(k) for k in poetry}
    else:
        names |= _project_dependencies(text) | _table_keys(text, "tool.poetry.dependencies")
    names.discard("python")
    names.discard("")
    return names


def undeclared(packages: Iterable[Package], names: Collection[str]) -> list[Package]:
    """The layer's packages a project file does not ask for: the app's own pins win."""
    return [p for p in packages if requirement_name(p.name) not in names]


def lock_lacks(packages: Iterable[Package], lock_text: str, entry: str) -> list[str]:
    """Names of the layer's packages without an entry in the lock file."""
    return [name for name in lock_names(packages)
            if entry.format(name=name) not in lock_text]


def lock_names(packages: Iterable[Package]) -> list[str]:
    """What the lock must hold for the layer: each package's normalized name, once."""
    return list(dict.fromkeys(requirement_name(p.name) for p in packages))


def poetry_root_missing(pyproject: str, exists) -> str:
    """The project's name when Poetry would install the project itself and find nothing to
    install, "" otherwise. In package mode (Poetry's default) `poetry sync`, which Heroku's
    build runs, installs the project too, and stops when no package of its name (at the
    root or under src/) and no `packages` setting says what that is. `exists(path)` tells
    whether a path exists in the app."""
    data = _toml(pyproject)
    if data is None:
        return ""
    poetry = data.get("tool", {}).get("poetry", {})
    if poetry.get("package-mode") is False or poetry.get("packages"):
        return ""
    name = str(data.get("project", {}).get("name") or poetry.get("name") or "")
    if not name:
        return ""
    module = re.sub(r"[-.]+", "_", name).lower()
    candidates = (module, f"{module}.py", f"src/{module}", f"src/{module}.py")
    return "" if any(exists(path) for path in candidates) else name


# --------------------------------------------------------------------------- commands


def command(template: str, packages: Iterable[Package] = ()) -> str:
    """A package manager's command line with these packages, each shell-quoted."""
    return template.format(packages=" ".join(shlex.quote(requirement(p)) for p in packages))


def lock_work(manager: PackageManager, packages: Iterable[Package], project_text: str | None,
              lock_text: str | None, *, lock_only: bool) -> str:
    """The one command that puts the layer's packages in the lock, "" when they are there.

    No project file: nothing the tool could add to (an app must create it; the layer writes
    one into a folder that has none). Packages the project file does not declare: the add
    command with those. All declared but the lock missing or lacking one: the lock command.
    """
    packages = list(packages)
    if not manager.project_file or project_text is None or not packages:
        return ""
    if lock_only and not manager.add_lock_only:
        return ""  # a package manager the copy never runs (Pipenv): the person does
    missing = undeclared(packages, declared(manager.project_file, project_text))
    if missing:
        template = manager.add_lock_only if lock_only else manager.add
        return command(template, missing) if template else ""
    if lock_text is None or lock_lacks(packages, lock_text, manager.lock_entry):
        return manager.lock
    return ""
