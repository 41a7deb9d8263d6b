"""Benchmark (not a test): a newcomer's first minutes, following the README to the letter.

From a fresh clone: `bin/demo`, then `bin/dev` until the demo answers /health, then
`bin/heroku-setup --dry-run`. Prints the time of each step and the total against the
three-minute target. Pip's own cache is used as a returning user's would be; pass
--cold to start without it (a first-time user's download).

    python3 bench/newcomer_bench.py [--python /usr/bin/python3] [--cold]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TRY_IT = README[README.index("## Try it: two commands"):README.index("## Use it")]
TARGET = 180.0


def timed(step: str, times: dict[str, float]):
    class Step:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            times[step] = time.perf_counter() - self.start
    return Step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--cold", action="store_true", help="an empty pip cache")
    args = parser.parse_args()
    demo_command = re.findall(r"```sh\n(.*?)```", TRY_IT, re.S)[0].strip()
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="newcomer-") as tmp:
        tmp = Path(tmp)
        shims = tmp / "shims"
        shims.mkdir()
        (shims / "python3").symlink_to(args.python)
        env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
               "PYTHON": "python3"}
        env.pop("VIRTUAL_ENV", None)
        if args.cold:
            env["PIP_NO_CACHE_DIR"] = "1"
        with timed("git clone", times):
            subprocess.run(["git", "clone", "-q", str(ROOT), str(tmp / "copier-heroku")],
                           check=True)
        clone = tmp / "copier-heroku"
        with timed(demo_command, times):
            subprocess.run(["bash", "-c", demo_command], cwd=clone, env=env, check=True,
                           capture_output=True)
        app = clone / "demo-shop"
        with timed("bin/dev until /health answers", times):
            dev = subprocess.Popen(["bin/dev"], cwd=app, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                while True:
                    try:
                        with urllib.request.urlopen("http://127.0.0.1:5000/health",
                                                    timeout=1) as answer:
                            if answer.status == 200:
                                break
                    except OSError:
                        time.sleep(0.1)
            finally:
                os.killpg(dev.pid, signal.SIGINT)
                dev.wait(timeout=30)
        with timed("bin/heroku-setup --dry-run", times):
            subprocess.run(["bin/heroku-setup", "--dry-run"], cwd=app, env=env, check=True,
                           capture_output=True)
    total = sum(times.values())
    print(f"python: {args.python}, pip cache: {'none' if args.cold else 'as found'}")
    for step, seconds in times.items():
        print(f"  {seconds:6.1f} s  {step}")
    print(f"  {total:6.1f} s  in all = {total / TARGET:.2f}x the three-minute target")


if __name__ == "__main__":
    sys.exit(main())
