"""The checks of Heroku's Python buildpack that decide whether a build starts, in our own
code, each with the buildpack file that makes it (heroku/heroku-buildpack-python v351).

`refusals(app)` reads the files a push would send (git's view: what .gitignore leaves out
never reaches Heroku) and returns one sentence per reason the build would stop before it
installs anything; [] means it starts. `collectstatic(...)` runs Django's build step as
bin/steps/collectstatic does. The tests run both on every Python cell of the generation
matrix and on projects that existed before the copy.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from copier_heroku import python_packages

# lib/package_manager.sh: the files that name a package manager, in the order the
# buildpack lists them; exactly one must be present.
PACKAGE_MANAGER_FILES = {"Pipfile.lock": "pipenv", "requirements.txt": "pip",
                         "poetry.lock": "poetry", "uv.lock": "uv"}
# lib/python_version.sh: OLDEST/NEWEST_SUPPORTED_PYTHON_3_MINOR_VERSION.
OLDEST_MINOR, NEWEST_MINOR = 10, 14
# lib/python_version.sh: PYTHON_VERSION_REGEX, N.N or N.N.N without leading zeros.
_INT = r"(0|[1-9][0-9]*)"
VERSION = re.compile(rf"{_INT}\.{_INT}(\.{_INT})?")
# lib/python_version.sh: MISSPELLED_PYTHON_VERSION_FILE_NAMES, each refused.
MISSPELLED_VERSION_FILES = (
    " .python-version", ". python-version", ".python_version.txt", ".python_version",
    ".python-version ", ",python-version", ".python-version.", ".python-version.py",
    ".python-version.rtf", ".python-version.txt", ".python-version.TXT", ".Python-version",
    ".python.version", ".pythonversion", "'.python-version'", "python_version.txt",
    "python_version", "python-version.", "python-version.txt", "python-version")


def pushed_files(app: Path) -> set[str]:
    """The paths a `git push` of this folder would send once everything is committed:
    tracked files and untracked ones that .gitignore does not leave out."""
    if not (app / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=app, check=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=app, check=True,
                            capture_output=True, text=True).stdout
    return {path for path in listed.split("\0") if path and (app / path).exists()}


def version_lines(text: str) -> list[str]:
    """python_version::read_trimmed_version_lines: lines trimmed, blank and # lines out."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def python_version_refusal(raw: bytes, origin: str = ".python-version") -> str:
    """lib/python_version.sh: parse_python_version_file, then resolve_python_version."""
    if raw.startswith(b"\xef\xbb\xbf") or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return f"{origin} is not plain UTF-8 without a BOM: the buildpack cannot read it."
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{origin} is not UTF-8: the buildpack cannot read it."
    versions = version_lines(text)
    for version in versions:
        if not VERSION.fullmatch(version):
            return (f"Invalid Python version {version!r} in {origin}: the buildpack takes "
                    "major.minor (3.12) or an exact patch version (3.12.1), nothing else.")
    if not versions:
        return f"No Python version found in {origin}."
    if len(versions) > 1:
        return f"Multiple Python versions found in {origin}: {', '.join(versions)}."
    major, minor = (int(part) for part in versions[0].split(".")[:2])
    if (major, minor) < (3, OLDEST_MINOR):
        return f"Python {major}.{minor} in {origin} has reached end-of-life: refused."
    if (major, minor) > (3, NEWEST_MINOR):
        return f"Python {major}.{minor} in {origin} is not recognised by the buildpack."
    return ""


def refusals(app: Path) -> list[str]:
    """Why Heroku's Python buildpack would stop a build of this folder before installing
    anything, one sentence a reason; [] when the build starts."""
    files = pushed_files(app)
    top = {path for path in files if "/" not in path}
    said = []

    # bin/compile: checks::existing_python_dir_present.
    if any(path.startswith(".heroku/python") for path in files):
        said.append("Existing '.heroku/python/' directory found: the buildpack installs "
                    "Python there.")

    # lib/package_manager.sh: package_manager::determine_package_manager.
    if "Pipfile" in top and "Pipfile.lock" not in top:
        said.append("A Pipfile without Pipfile.lock: Pipenv without its lock is refused.")
    found = [name for name in PACKAGE_MANAGER_FILES if name in top]
    if not found:
        said.append("No package-manager file (requirements.txt, Pipfile.lock, poetry.lock "
                    "or uv.lock) in the app's root" +
                    (": setup.py alone is no longer supported." if "setup.py" in top
                     else "."))
    elif len(found) > 1:
        said.append("Exactly one package manager file should be present, however, several "
                    f"were found: {', '.join(found)}.")
    package_manager = PACKAGE_MANAGER_FILES[found[0]] if len(found) == 1 else ""

    # lib/poetry.sh runs `poetry sync --only main`, which in Poetry's package mode installs
    # the project itself and stops when nothing of its name is there to install.
    if package_manager == "poetry" and "pyproject.toml" in top:
        name = python_packages.poetry_root_missing(
            (app / "pyproject.toml").read_text(),
            lambda path: any(f == path or f.startswith(path + "/") for f in files))
        if name:
            said.append(f"Poetry installs the project {name!r} itself and finds no package "
                        "of that name: set package-mode = false under [tool.poetry].")

    # lib/checks.sh: checks::existing_venv_dir_present, after the package manager.
    for venv in (".venv", "venv"):
        if f"{venv}/pyvenv.cfg" in files:
            said.append(f"Existing '{venv}/' directory found: a committed virtual "
                        "environment is refused.")

    # lib/python_version.sh: read_requested_python_version, in its order of precedence,
    # then warn_or_error_if_python_version_file_missing.
    if "runtime.txt" in top:
        text = " ".join(version_lines((app / "runtime.txt").read_text(errors="replace")))
        if not re.fullmatch(rf"python-{VERSION.pattern}", text):
            said.append("Invalid Python version in runtime.txt.")
        elif package_manager == "uv":
            said.append("The runtime.txt file isn't supported when using uv: "
                        ".python-version only.")
        return said
    for name in MISSPELLED_VERSION_FILES:
        if name in top:
            said.append(f"Your .python-version file is spelled incorrectly: {name!r}.")
            return said
    if ".python-version" in top:
        refusal = python_version_refusal((app / ".python-version").read_bytes())
        if refusal:
            said.append(refusal)
    elif package_manager == "uv":
        said.append("No Python version was specified: with uv, the buildpack needs a "
                    ".python-version file.")
    return said


def manage_py(app: Path) -> Path | None:
    """bin/steps/collectstatic: the shallowest manage.py, at most three levels down."""
    found = sorted((len(p.relative_to(app).parts), str(p.relative_to(app)))
                   for p in app.rglob("manage.py")
                   if len(p.relative_to(app).parts) <= 3 and ".venv" not in p.parts)
    return app / found[0][1] if found else None


def collectstatic(app: Path, python: str,
                  env: dict[str, str]) -> subprocess.CompletedProcess | None:
    """Django's collectstatic as the build runs it (bin/steps/collectstatic): with the app's
    config vars as the environment, when Django is installed and a manage.py exists; None
    when the buildpack would skip it."""
    has_django = subprocess.run(
        [python, "-c", "import importlib.util, sys; "
                       "sys.exit(0 if importlib.util.find_spec('django') else 1)"],
        cwd=app, env=env, check=False).returncode == 0
    manage = manage_py(app)
    if not has_django or manage is None or env.get("DISABLE_COLLECTSTATIC", "0") != "0":
        return None
    return subprocess.run(
        [python, str(manage.relative_to(app)), "collectstatic", "--noinput", "--traceback"],
        cwd=app, env={**env, "PYTHONPATH": env.get("PYTHONPATH", ".")},
        capture_output=True, text=True, timeout=300, check=False)
