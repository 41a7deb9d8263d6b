"""uv and Poetry from PyPI, pinned as Heroku's Python buildpack pins them, and a Python of the
version an app's `.python-version` asks for.

Installed once into a cache folder (not the test environment's own, so that no other test
finds them on PATH), in a venv of their own; `package_manager_tools()` returns a folder that
holds only the `uv` and `poetry` commands, for PATH. Offline on a laptop, the tests that
need them skip; under REQUIRE_E2E=1 they fail (helpers/tools.py).
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from helpers.tools import missing

# heroku/heroku-buildpack-python v351: requirements/uv.txt and requirements/poetry.txt.
UV_VERSION = "0.12.5"
POETRY_VERSION = "2.4.1"
CACHE = Path(os.environ.get("COPIER_HEROKU_TOOLS_DIR",
                            Path.home() / ".cache" / "copier-heroku" / "python-tools"))
# PyPI's simple index: this machine's registry serves it, but not the JSON API Poetry uses
# for PyPI by default, so a Poetry project made here names it as its primary source.
PYPI_SIMPLE = "https://pypi.org/simple/"


def package_manager_tools() -> Path:
    """A folder with `uv` and `poetry`, and nothing else, to put first on PATH."""
    name = f"uv-{UV_VERSION}-poetry-{POETRY_VERSION}"
    home = CACHE / name
    tools = home / "bin"
    if (tools / "uv").exists() and (tools / "poetry").exists():
        return tools
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be installing them now
        if (tools / "uv").exists() and (tools / "poetry").exists():
            return tools
        env_dir = home / "venv"
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        done = subprocess.run(
            [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", f"uv=={UV_VERSION}", f"poetry=={POETRY_VERSION}"],
            capture_output=True, text=True, timeout=600, check=False)
        if done.returncode:
            missing(f"cannot install uv {UV_VERSION} and Poetry {POETRY_VERSION} from PyPI: "
                    f"{done.stderr.strip()[-500:]}")
        tools.mkdir(exist_ok=True)
        for tool in ("uv", "poetry"):
            (tools / tool).unlink(missing_ok=True)
            (tools / tool).symlink_to(env_dir / "bin" / tool)
    return tools


def _runs(python: str, version: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def python_for(version: str) -> str:
    """An interpreter of this major.minor version that can make venvs, as the buildpack
    installs the Python of `.python-version`."""
    if "%d.%d" % sys.version_info[:2] == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}"),
                  *sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / f"{version}.*"
                                        / "bin" / f"python{version}")), reverse=True),
                  f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for python in candidates:
        if python and _runs(python, version):
            return python
    missing(f"no Python {version} with venv here: the app's .python-version asks for it")
    raise AssertionError("unreachable")


def tool_env(base: dict[str, str], tools: Path, python: str) -> dict[str, str]:
    """`base` with uv and Poetry on PATH, told to use `python` and to download no Python,
    their caches shared between tests, and Poetry's virtual environment in the project's
    .venv (where bin/dev and a person find it)."""
    return {**base,
            "PATH": f"{tools}{os.pathsep}{base.get('PATH', os.environ['PATH'])}",
            "UV_PYTHON": python,
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_CACHE_DIR": str(CACHE / "uv-cache"),
            "POETRY_CACHE_DIR": str(CACHE / "poetry-cache"),
            "POETRY_VIRTUALENVS_IN_PROJECT": "true",
            "POETRY_NO_INTERACTION": "1"}
