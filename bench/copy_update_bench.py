"""Benchmark (not a test): `copier copy` and `copier update` wall time for the default
answers, against Copier's own floor, a one-file template copied on the same machine in the
same run; then both again on an app with 20,000 committed files of its own, where the
update's git work grows with the app. Prints medians and the ratios; targets: copy <= 1.5x
the floor, update <= 3x our copy (both apps).

    python3 bench/copy_update_bench.py [--runs 7] [--app-files 20000]

Each run is a fresh `python -m copier` process, as a user runs it, so interpreter start-up
and imports count on both sides.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers.template import ANSWERS_FILE, commit_all, git, release, snapshot_template


def one_file_template(dst: Path) -> Path:
    (dst / "template").mkdir(parents=True)
    (dst / "copier.yml").write_text("_subdirectory: template\nproject_name:\n  type: str\n"
                                    "  default: demo\n")
    (dst / "template" / "README.md.jinja").write_text("# {{ project_name }}\n")
    (dst / "template" / "{{ _copier_conf.answers_file }}.jinja").write_text(
        "{{ _copier_answers | to_nice_yaml }}")
    git(dst, "init", "-q")
    release(dst, "v1.0.0")
    return dst


def big_app(dst: Path, files: int) -> Path:
    """An app of `files` small committed files in nested folders, like a real repository."""
    for i in range(files):
        path = dst / f"app/part{i % 50}/sub{i % 7}/file{i}.rb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# file {i}\nclass File{i}; end\n")
    git(dst, "init", "-q")
    commit_all(dst, "the app")
    return dst


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--app-files", type=int, default=20000)
    args = parser.parse_args()
    runs = args.runs
    copier = [sys.executable, "-m", "copier"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floor_tpl = one_file_template(tmp / "floor")
        ours_tpl = snapshot_template(tmp / "ours")
        release(ours_tpl, "v1.0.0")
        floor, copy, update, big_copy, big_update = [], [], [], [], []
        big_template = big_app(tmp / "big-template" / "demo-shop", args.app_files)
        for i in range(runs):
            # Interleaved, so a noisy neighbour slows both sides alike.
            floor.append(timed([*copier, "copy", "--defaults", "-q", str(floor_tpl),
                                str(tmp / f"f{i}")], tmp))
            app = tmp / f"app{i}" / "demo-shop"
            copy.append(timed([*copier, "copy", "--trust", "--defaults", "-q", str(ours_tpl),
                               str(app)], tmp))
            git(app, "init", "-q")
            commit_all(app, "generated")
            update.append(timed([*copier, "update", "--trust", "--defaults", "-q", "-a",
                                 ANSWERS_FILE], app))
            shutil.rmtree(tmp / f"f{i}")
            big = tmp / f"big{i}" / "demo-shop"
            shutil.copytree(big_template, big, symlinks=True)
            big_copy.append(timed([*copier, "copy", "--trust", "--defaults", "-q",
                                   str(ours_tpl), str(big)], tmp))
            commit_all(big, "generated")
            big_update.append(timed([*copier, "update", "--trust", "--defaults", "-q", "-a",
                                     ANSWERS_FILE], big))
            shutil.rmtree(tmp / f"big{i}")
    f, c, u, bc, bu = (statistics.median(x) for x in (floor, copy, update, big_copy,
                                                          big_update))
    print(f"runs: {runs} each, medians")
    print(f"copier floor (one-file template) copy: {f:6.3f} s")
    print(f"copier-heroku copy (default answers):   {c:6.3f} s  = {c / f:4.2f}x the floor "
          f"(target <= 1.50x)")
    print(f"copier-heroku update (no change):       {u:6.3f} s  = {u / c:4.2f}x our copy "
          f"(target <= 3.00x)")
    print(f"on an app of {args.app_files} committed files:")
    print(f"  copier-heroku copy:                   {bc:6.3f} s")
    print(f"  copier-heroku update (no change):     {bu:6.3f} s  = {bu / bc:4.2f}x that copy "
          f"(target <= 3.00x)")


if __name__ == "__main__":
    main()
