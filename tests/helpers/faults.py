"""Fault injection for the bin/heroku-* scripts: run a script once cleanly against the
stand-in, then again with a fault at every call N of that clean run, and check what each
faulted run, and a plain re-run after it, left behind.

A Scenario is a script, its arguments, the world it starts from and what its goal looks
like. `explore` runs every (N, fault) of a scenario in a small thread pool, each thread in
a sandbox of its own (a copy of the app and its own world file), and returns the problems
found, as sentences; a test asserts there are none.

Faults (tests/fakes/heroku_world.py carries them out):
  fail     the call fails before doing anything
  lost     the call does its work, then fails (the reply was lost)
  garbage  the call does its work, then prints something unexpected and succeeds
  hang     the call never answers (the script's time limit must end it)
  INT, TERM, HUP
           the call does its work (Heroku carries on), then the script's process group
           gets the signal, as from Ctrl-C, a CI timeout or a dropped SSH session
"""

from __future__ import annotations

import concurrent.futures
import copy
import hashlib
import json
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.heroku_standin import PRODUCTION, Heroku, cli_errors, reads_only

SIGNALS = ("INT", "TERM", "HUP")
SECRET = re.compile(r"[0-9a-f]{128}")


@dataclass
class Scenario:
    name: str
    script: str
    args: tuple[str, ...]
    world: dict[str, Any]
    # setup, and bin/heroku-addons with --confirm: production may gain what it lacks.
    production_may_grow: bool = False
    # Extra facts of the goal outside Heroku's world (a git remote's branch).
    outside: Callable[[Path, Path], Any] = lambda app, sandbox: None
    # Puts the app's side back before each run (git config, a remote's branch).
    reset: Callable[[Path, Path], None] = lambda app, sandbox: None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    scenario: str
    calls: int = 0
    runs: int = 0
    reruns: int = 0
    problems: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- the world, normalized


def _addon_label(addon: dict) -> tuple:
    return (addon["app"], addon["service"], addon["plan"],
            tuple(sorted((t["app"], t["name"]) for t in addon["attachments"])),
            json.dumps(addon.get("data"), sort_keys=True))


def normal(world: dict) -> dict:
    """What a goal is made of, without what differs from run to run: add-on names (by
    what they are and where attached), random secrets (by presence), history (backups
    taken, one-off runs), the call counter."""
    labels = {name: _addon_label(addon) for name, addon in world["addons"].items()}
    apps = {}
    for app, data in world["apps"].items():
        config = {}
        for key, value in data["config"].items():
            if SECRET.fullmatch(value):
                value = "<secret>"
            for name, label in labels.items():
                if name in value:
                    value = f"<{label[1]} {label[3]}>"
            config[key] = value
        apps[app] = {"config": config, "maintenance": data["maintenance"],
                     "formation": data.get("formation", {}), "region": data["region"],
                     "team": data["team"], "schedules": data["schedules"],
                     "promoted": sorted(set(data.get("promotions", [])))}
    return {"apps": apps, "addons": sorted(labels.values()), "pipelines": world["pipelines"]}


def production_part(world: dict) -> dict:
    """Production's own state: what no script but setup and addons --confirm may change."""
    if PRODUCTION not in world["apps"]:
        return {}
    app = world["apps"][PRODUCTION]
    return {"config": app["config"], "maintenance": app["maintenance"],
            "formation": app.get("formation", {}), "schedules": app["schedules"],
            "promotions": app.get("promotions", []),
            "addons": sorted(_addon_label(a) for a in world["addons"].values()
                             if a["app"] == PRODUCTION or
                             any(t["app"] == PRODUCTION for t in a["attachments"])),
            "pipelines": {p: d["apps"].get(PRODUCTION) for p, d in world["pipelines"].items()}}


def production_grew_only(before: dict, after: dict) -> list[str]:
    """Setup and addons --confirm may add to production, never change or remove."""
    if not before:
        return []
    problems = [f"production's {key} changed from {value!r}"
                for key, value in before["config"].items()
                if after["config"].get(key) != value]
    missing = [a for a in before["addons"] if a not in after["addons"]]
    if missing:
        problems.append(f"production lost or changed add-ons {missing}")
    services = [label[1] for label in after["addons"]]
    twice = sorted({s for s in services if services.count(s) > 1})
    if twice:
        problems.append(f"production has {twice} twice")
    return problems


def secrets(world: dict) -> dict[tuple[str, str], str]:
    return {(app, key): value for app, data in world["apps"].items()
            for key, value in data["config"].items() if SECRET.fullmatch(value)}


# --------------------------------------------------------------------------- running


class Sandbox:
    """A private copy of the app and a world file of its own, for one thread."""

    def __init__(self, app: Path, root: Path):
        root.mkdir(parents=True)
        self.app = root / app.name
        shutil.copytree(app, self.app, symlinks=True)
        self.root = root
        self.heroku = Heroku(self.app, root)
        self.git_config = (self.app / ".git" / "config").read_text()

    def start(self, scenario: Scenario, world: dict) -> None:
        (self.app / ".git" / "config").write_text(self.git_config)
        scenario.reset(self.app, self.root)
        self.heroku.save(world)
        self.heroku.forget_calls()

    def run(self, scenario: Scenario, fault: str = "", env: dict | None = None
            ) -> subprocess.CompletedProcess:
        return self.heroku.run(scenario.script, *scenario.args, fault=fault,
                               env={**scenario.env, **(env or {})}, timeout=90)

    def goal(self, scenario: Scenario) -> Any:
        world = self.heroku.world()
        return {"world": normal(world), "outside": scenario.outside(self.app, self.root)}

    def memo_key(self, scenario: Scenario) -> str:
        state = {"world": normal(self.heroku.world()),
                 "outside": scenario.outside(self.app, self.root),
                 "git": (self.app / ".git" / "config").read_text()}
        return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()
                              ).hexdigest()


def _fault_for(n: int, argv: list[str], manifest) -> list[str]:
    """The faults tried at call N: a failure, one of the three signals in turn, and
    what hurts most there besides: garbage for a read, a lost reply for a write."""
    return ["fail", SIGNALS[n % 3], "garbage" if reads_only(manifest, argv) else "lost"]


def explore(scenario: Scenario, app: Path, tmp: Path, manifest, *, kinds=None,
            hang_at: tuple[str, ...] = (), workers: int = 2) -> Report:
    """Runs the scenario cleanly, then with each fault at each call N of the clean run,
    each followed by a plain re-run (once per distinct state it left), and checks:
    - no app ever served another app's unsanitized rows (the stand-in records breaches);
    - production was not written, or only grew where that is allowed;
    - no secret present before a run was replaced by it;
    - every line the stand-in got passes the real CLI's manifest;
    - exit 0 only when the goal was reached; a fault before a call's effect (fail, hang)
      ends non-zero exactly when the goal was not reached; a signal ends with 128+n;
      a non-zero exit ends with a sentence of the script's own;
    - the re-run exits 0 and reaches the clean run's goal.
    kinds: the faults tried at every call ("signal" is one of INT, TERM, HUP in turn);
    by default a failure, a signal, and garbage at a read or a lost reply at a write.
    hang_at lists regexes of calls (from the clean run) at which a hang is tried too."""
    report = Report(scenario.name)
    local = threading.local()
    counter = iter(range(10 ** 6))
    lock = threading.Lock()

    def sandbox() -> Sandbox:
        if not hasattr(local, "box"):
            with lock:
                number = next(counter)
            local.box = Sandbox(app, tmp / f"{scenario.name}-{number}")
        return local.box

    box = sandbox()
    box.start(scenario, scenario.world)
    clean = box.run(scenario)
    if clean.returncode != 0:
        report.problems.append(f"the clean run failed:\n{clean.stderr}")
        return report
    goal = box.goal(scenario)
    clean_calls = box.heroku.calls()
    report.calls = len(clean_calls)
    start_key = None
    box.start(scenario, scenario.world)
    start_key = box.memo_key(scenario)
    production_before = production_part(scenario.world)
    secrets_before = secrets(scenario.world)
    done: dict[str, str] = {start_key: "the clean run"}

    plan = []
    for n, argv in enumerate(clean_calls, start=1):
        for kind in kinds or _fault_for(n, argv, manifest):
            plan.append((n, argv, SIGNALS[n % 3] if kind == "signal" else kind))
        if any(re.search(pattern, " ".join(argv)) for pattern in hang_at):
            plan.append((n, argv, "hang"))

    def check_production(world: dict, when: str) -> list[str]:
        after = production_part(world)
        if scenario.production_may_grow:
            return [f"{when}: {p}" for p in production_grew_only(production_before, after)]
        if after != production_before:
            return [f"{when}: production changed: {_diff(production_before, after)}"]
        return []

    def one(n: int, argv: list[str], kind: str) -> list[str]:
        box = sandbox()
        where = f"{scenario.name}: {kind} at call {n} (heroku {' '.join(argv)})"
        problems: list[str] = []
        box.start(scenario, scenario.world)
        env = {"HEROKU_CALL_TIMEOUT": "1", "HEROKU_WAIT_TIMEOUT": "1"} if kind == "hang" \
            else {}
        result = box.run(scenario, fault=f"{n}:{kind}", env=env)
        world = box.heroku.world()
        reached = box.goal(scenario) == goal
        status = result.returncode
        last = (result.stderr.strip().splitlines() or [""])[-1]
        if world["violations"]:
            problems.append(f"{where}: {world['violations']}")
        problems += check_production(world, where)
        replaced = {k for k, v in secrets_before.items() if secrets(world).get(k) != v}
        if replaced:
            problems.append(f"{where}: replaced or removed secrets {sorted(replaced)}")
        bad = cli_errors(manifest, box.heroku.calls())
        if bad:
            problems.append(f"{where}: lines the real CLI rejects: {bad}")
        if status == 0 and not reached:
            problems.append(f"{where}: exit 0 but the goal was not reached")
        if kind in ("fail", "hang") and status != 0 and reached:
            problems.append(f"{where}: exit {status} although the goal was reached")
        if kind in SIGNALS and status != 128 + getattr(signal, f"SIG{kind}"):
            problems.append(f"{where}: exit {status} after SIG{kind}")
        if status != 0 and not last.startswith(f"bin/{scenario.script}: "):
            problems.append(f"{where}: exit {status} without a sentence of its own: {last!r}")
        key = box.memo_key(scenario)
        with lock:
            report.runs += 1
            report.kinds[kind] = report.kinds.get(kind, 0) + 1
            seen = key in done
            if not seen:
                done[key] = where
        if seen or problems:
            return problems
        held = secrets(world)
        again = box.run(scenario)
        world = box.heroku.world()
        with lock:
            report.reruns += 1
        if again.returncode != 0:
            problems.append(f"{where}, then a re-run: exit {again.returncode}:\n"
                            f"{result.stderr}\n--- re-run:\n{again.stderr}")
        elif box.goal(scenario) != goal:
            problems.append(f"{where}, then a re-run: did not reach the goal: "
                            f"{_diff(goal, box.goal(scenario))}")
        if world["violations"]:
            problems.append(f"{where}, then a re-run: {world['violations']}")
        problems += check_production(world, f"{where}, then a re-run")
        replaced = {k for k, v in held.items() if secrets(world).get(k) != v}
        if replaced:
            problems.append(f"{where}, then a re-run: replaced secrets {sorted(replaced)}")
        return problems

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for problems in pool.map(lambda job: one(*job), plan):
            report.problems += problems
    return report


def _diff(a: Any, b: Any, path: str = "") -> str:
    """The first place two nested values differ, for a readable message."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                return _diff(a.get(key), b.get(key), f"{path}/{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _diff(x, y, f"{path}[{i}]")
    return f"{path or '/'}: {a!r} != {b!r}"


def world_copy(world: dict) -> dict:
    return copy.deepcopy(world)
