"""A stateful stand-in for the `heroku` CLI, put first on PATH by the ops-script tests.

Heroku's API cannot be reached from the tests. This program parses its command line with
the real CLI's manifest (tests/heroku_manifest.py), so a line the real CLI would reject is
rejected here too; appends the line to $HEROKU_FAKE_LOG as one JSON list; and answers from,
and changes, a JSON world in $HEROKU_FAKE_STATE, shaped like Heroku's own objects:

- apps: config vars, region, team, maintenance, dyno formation (the process types of the
  last deploy; a new app has none, and `ps:scale` without arguments then fails as the real
  CLI does), backups, one-off runs, pipeline promotions;
- add-ons, each owned by one app, with attachments (DATABASE, MIRROR_NEXT, ...) whose
  config vars (DATABASE_URL, ...) appear on the app; a database add-on holds `data`: whose
  rows it holds (`holds`: an app name), whether they were sanitized and migrated, and size;
- pipelines and their couplings.

Output and errors follow the real CLI closely enough for the scripts' parsers: `--json` is
pretty-printed as JSON.stringify(x, null, 2) prints it, progress lines go to stderr, a
missing app says "Couldn't find that app." with "Error ID: not_found".

After every call it checks the one rule the mirror must never break: no app serves (web
out of maintenance, or any other process type running) from a database that holds another
app's rows unsanitized. A breach is appended to the world's `violations`.

Faults, for the fault-injection tests (tests/helpers/heroku_standin.py drives them):
$HEROKU_FAKE_COUNTER names a file that counts the calls of a run; $HEROKU_FAKE_FAULT is
"N:KIND" (the Nth call) or "/REGEX/:KIND" (every call whose words match), KIND one of
  fail     exit 1 before doing anything
  lost     do it, then exit 1 (the reply was lost)
  hang     sleep until killed, before doing anything
  garbage  do it, then print something unexpected and exit 0
  INT, TERM, HUP
           do it (a job Heroku started goes on), then send that signal to the process
           group of the script under test (the session leader, as a terminal or CI would),
           and wait to be killed.
$HEROKU_FAKE_FAIL (command ids, comma-separated) fails those commands, as before.
Git remotes are real: git:remote runs git, as the real CLI does.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:  # where main's reorganization of tests/ puts it
    from helpers.heroku_manifest import Manifest, ManifestError
except ImportError:
    from heroku_manifest import Manifest, ManifestError

# Config vars each add-on service sets besides its attachment's <NAME>_URL.
SERVICE_VARS = {
    "newrelic": ["NEW_RELIC_LICENSE_KEY"],
    "papertrail": ["PAPERTRAIL_API_TOKEN"],
    "judoscale": ["JUDOSCALE_URL"],
    "scheduler": [],
}
# Services whose attachments expose <NAME>_URL, and the name of their first attachment.
URL_SERVICES = {"heroku-postgresql": ("DATABASE", "HEROKU_POSTGRESQL"),
                "heroku-redis": ("REDIS", "HEROKU_REDIS")}
COLORS = ["AMBER", "BLUE", "COBALT", "CRIMSON", "GOLD", "IVORY", "JADE", "OLIVE", "PINK",
          "ROSE", "SILVER", "TEAL"]
NOT_FOUND_APP = " ›   Error: Couldn't find that app.\n ›\n ›   Error ID: not_found"
LEGACY_PLANS = {"mini", "basic", "hobby-dev", "hobby-basic"}
GARBAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>"


class Fail(Exception):
    pass


# --------------------------------------------------------------------------- the world


def load_state(path: str) -> dict:
    try:
        with open(path) as handle_:
            text = handle_.read()
    except FileNotFoundError:
        text = ""
    state = json.loads(text) if text else {}
    state.setdefault("apps", {})
    state.setdefault("addons", {})
    state.setdefault("pipelines", {})
    state.setdefault("logged_in", True)
    state.setdefault("violations", [])
    state.setdefault("serial", 0)
    return state


def new_app(name: str, region: str = "us", team: str | None = None) -> dict:
    return {"id": f"id-{name}", "region": region, "team": team, "config": {},
            "maintenance": False, "formation": {}, "schedules": [], "backups": [],
            "runs": [], "promotions": []}


def serial(state: dict) -> int:
    state["serial"] += 1
    return state["serial"]


def quote(value: str) -> str:
    """The CLI's own quoting for `config --shell` (lib/config/quote.js)."""
    if re.search(r"[\"\s#!$&'()*,:;<=>?@\[\\\]^`{|}]", value):
        if re.search(r"['\n]", value):
            return '"' + re.sub(r'(["\\$`!])', r"\\\1", value).replace("\n", "\\n") + '"'
        return f"'{value}'"
    return value


def app_of(state: dict, parsed) -> tuple[str, dict]:
    name = parsed.flag("app") or (parsed.args[0] if parsed.args and
                                  parsed.command == "apps:info" else None)
    if not name or name not in state["apps"]:
        raise Fail(NOT_FOUND_APP)
    return name, state["apps"][name]


def coupling(state: dict, name: str) -> tuple[str, str] | None:
    for pipeline, data in state["pipelines"].items():
        if name in data["apps"]:
            return pipeline, data["apps"][name]
    return None


def addons_of(state: dict, app: str) -> list[tuple[str, dict]]:
    """Add-ons owned by or attached to an app, oldest first."""
    return [(n, a) for n, a in state["addons"].items()
            if a["app"] == app or any(t["app"] == app for t in a["attachments"])]


def url_of(service: str, addon: str) -> str:
    scheme = "postgres" if service == "heroku-postgresql" else "rediss"
    return f"{scheme}://user:secret@{addon}.fake:5432/{addon.replace('-', '_')}"


def attach(state: dict, addon_name: str, app: str, name: str) -> None:
    addon = state["addons"][addon_name]
    config = state["apps"][app]["config"]
    for other in list(state["addons"].values()):
        other["attachments"] = [t for t in other["attachments"]
                                if not (t["app"] == app and t["name"] == name)]
    addon["attachments"].append({"app": app, "name": name})
    config[f"{name}_URL"] = url_of(addon["service"], addon_name)


def detach(state: dict, addon_name: str, app: str, name: str) -> None:
    addon = state["addons"][addon_name]
    addon["attachments"] = [t for t in addon["attachments"]
                            if not (t["app"] == app and t["name"] == name)]
    state["apps"][app]["config"].pop(f"{name}_URL", None)


def attachment(state: dict, app: str, name: str) -> str | None:
    """The add-on behind an app's attachment NAME (or NAME_URL, or the add-on's own name)."""
    name = name.removesuffix("_URL")
    for addon_name, addon in state["addons"].items():
        if any(t["app"] == app and t["name"] == name for t in addon["attachments"]):
            return addon_name
    if name in state["addons"] and (state["addons"][name]["app"] == app or any(
            t["app"] == app for t in state["addons"][name]["attachments"])):
        return name
    return None


def database(state: dict, app: str, name: str | None) -> tuple[str, dict]:
    found = attachment(state, app, name or "DATABASE")
    if not found or state["addons"][found]["service"] != "heroku-postgresql":
        raise Fail(f" ›   Error: Unknown database: {name or 'DATABASE'}. Valid options are: "
                   + ", ".join(t["name"] for _, a in addons_of(state, app)
                               for t in a["attachments"] if t["app"] == app))
    return found, state["addons"][found]


def fresh_color(state: dict, app: str, prefix: str) -> str:
    taken = {t["name"] for a in state["addons"].values() for t in a["attachments"]
             if t["app"] == app}
    for color in COLORS:
        if f"{prefix}_{color}" not in taken:
            return f"{prefix}_{color}"
    raise Fail("stand-in: out of colours")


def human_size(size: int) -> str:
    """The `bytes` package as pg:backups:info uses it: 2 decimals, no separator."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.2f}{unit}" if unit != "B" else f"{size}B"
        size /= 1024
    return ""


def serves(app: dict) -> bool:
    """Whether an app serves its database: web out of maintenance, or any other process."""
    formation = app.get("formation", {})
    web = not app["maintenance"] and formation.get("web", 1) > 0
    return web or any(n > 0 for kind, n in formation.items() if kind != "web")


def check_invariants(state: dict, call: list[str]) -> None:
    for name, app in state["apps"].items():
        found = attachment(state, name, "DATABASE")
        if not found:
            continue
        data = state["addons"][found].get("data") or {}
        if data.get("holds") not in (None, name) and not data.get("sanitized") and serves(app):
            state["violations"].append(
                f"{name} serves {data['holds']}'s unsanitized rows from {found} after "
                f"`heroku {shlex.join(call)}`")


# --------------------------------------------------------------------------- commands


def pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def handle(state: dict, parsed, out: list[str], err: list[str]) -> None:
    cmd = parsed.command
    if cmd == "auth:token":
        if not state["logged_in"]:
            raise Fail(" ›   Error: not logged in")
    elif cmd == "auth:whoami":
        if not state["logged_in"]:
            raise Fail(" ›   Error: not logged in")
        out.append("dev@example.invalid")
    elif cmd == "apps:info":
        name, app = app_of(state, parsed)
        pipe = coupling(state, name)
        plans = sorted(a["plan"] for _, a in addons_of(state, name))
        if parsed.flag("shell"):
            out.append(f"addons={','.join(plans)}")
            if pipe:
                out.append(f"pipeline={pipe[0]}:{pipe[1]}")
            out += [f"git_url=https://git.heroku.com/{name}.git", f"region={app['region']}",
                    "owner=dev@example.invalid", "stack=heroku-24"]
        elif parsed.flag("json"):
            out.append(pretty({
                "addons": [{"plan": {"name": p}} for p in plans],
                "app": {"id": app["id"], "name": name, "region": {"name": app["region"]},
                        "team": {"name": app["team"]} if app["team"] else None,
                        "git_url": f"https://git.heroku.com/{name}.git"},
                "collaborators": [],
                "dynos": [],
                "pipeline_coupling": ({"pipeline": {"name": pipe[0]}, "stage": pipe[1]}
                                      if pipe else None),
            }))
        else:
            out.append(f"=== {name}\nRegion: {app['region']}")
    elif cmd == "apps:create":
        name = parsed.args[0] if parsed.args else None
        if not name:
            raise Fail("stand-in: apps:create needs a name in these tests")
        if name in state["apps"]:
            raise Fail(f" ›   Error: Name {name} is already taken")
        state["apps"][name] = new_app(name, parsed.flag("region", "us"), parsed.flag("team"))
        if not parsed.flag("no-remote") and os.path.exists(os.path.join(CWD, ".git")):
            git_remote(name, parsed.flag("remote") or "heroku", out)
        err.append(f"Creating ⬢ {name}... done, region is {state['apps'][name]['region']}")
    elif cmd == "addons":
        name, _ = app_of(state, parsed)
        rows = [{"id": f"id-{n}", "name": n,
                 "addon_service": {"id": f"id-{a['service']}", "name": a["service"]},
                 "app": {"id": f"id-{a['app']}", "name": a["app"]},
                 "config_vars": addon_vars(a),
                 "plan": {"id": f"id-{a['plan']}", "name": a["plan"], "price": {"cents": 0}},
                 "state": "provisioned",
                 "attachments": [{"id": f"id-{n}-{t['name']}", "name": t["name"],
                                  "addon": {"id": f"id-{n}", "name": n,
                                            "app": {"id": f"id-{a['app']}", "name": a["app"]}},
                                  "app": {"id": f"id-{t['app']}", "name": t["app"]},
                                  "namespace": None}
                                 for t in a["attachments"]]}
                for n, a in addons_of(state, name)]
        out.append(pretty(rows) if parsed.flag("json") else
                   "\n".join(a["plan"] for _, a in addons_of(state, name)) or "No add-ons.")
    elif cmd == "addons:create":
        name, app = app_of(state, parsed)
        service_plan = parsed.args[0]
        service, _, plan = service_plan.partition(":")
        plan = plan or "default"
        if service == "heroku-postgresql" and plan in LEGACY_PLANS:
            raise Fail(f" ›   Error: The plan {service}:{plan} is no longer available.")
        addon_name = f"{'postgresql' if service == 'heroku-postgresql' else service}-fake-" \
                     f"{serial(state)}"
        addon = {"service": service, "plan": f"{service}:{plan}", "app": name,
                 "attachments": []}
        state["addons"][addon_name] = addon
        if service == "heroku-postgresql":
            # A new database holds the app's own rows (none yet): never foreign ones.
            addon["data"] = {"holds": name, "sanitized": False, "migrated": False,
                             "bytes": 8 * 1024 * 1024}
        as_name = parsed.flag("as")
        if as_name:
            attach(state, addon_name, name, as_name)
        elif service in URL_SERVICES:
            first, prefix = URL_SERVICES[service]
            if attachment(state, name, first):
                attach(state, addon_name, name, fresh_color(state, name, prefix))
            else:
                attach(state, addon_name, name, first)
        else:
            addon["attachments"].append({"app": name, "name": service.upper()})
        for var in SERVICE_VARS.get(service, []):
            app["config"].setdefault(var, f"{service}-credential-{addon_name}")
        err.append(f"Creating {service_plan} on ⬢ {name}... free")
        out.append(f"Created {addon_name} as {', '.join(addon_vars(addon))}")
    elif cmd == "addons:attach":
        name, _ = app_of(state, parsed)
        addon_name = parsed.args[0]
        if addon_name not in state["addons"]:
            raise Fail(" ›   Error: Couldn't find that add-on.\n ›\n ›   Error ID: not_found")
        as_name = parsed.flag("as") or "ATTACHMENT"
        if attachment(state, name, as_name) and parsed.flag("confirm") != name:
            raise Fail(f" ›   Error: {as_name} is already attached; add --confirm {name}")
        attach(state, addon_name, name, as_name)
        err.append(f"Attaching {addon_name} as {as_name} to ⬢ {name}... done")
    elif cmd == "addons:detach":
        name, _ = app_of(state, parsed)
        found = None
        for addon_name, addon in state["addons"].items():
            if any(t["app"] == name and t["name"] == parsed.args[0]
                   for t in addon["attachments"]):
                found = addon_name
        if not found:
            raise Fail(" ›   Error: Couldn't find that add-on attachment.\n ›\n ›   Error ID: "
                       "not_found")
        detach(state, found, name, parsed.args[0])
        err.append(f"Detaching {parsed.args[0]} from ⬢ {name}... done")
    elif cmd == "addons:destroy":
        name = parsed.flag("app")
        for wanted in parsed.args:
            found = attachment(state, name, wanted) if name else (
                wanted if wanted in state["addons"] else None)
            if not found:
                raise Fail(" ›   Error: Couldn't find that add-on.\n ›\n ›   Error ID: "
                           "not_found")
            addon = state["addons"][found]
            if name and addon["app"] != name:
                raise Fail(f" ›   Error: {found} is on {addon['app']} not {name}")
            if parsed.flag("confirm") != addon["app"]:
                raise Fail(f" ›   Error: Confirmation {parsed.flag('confirm')} did not match "
                           f"{addon['app']}. Aborted.")
            for t in list(addon["attachments"]):
                detach(state, found, t["app"], t["name"])
            for var in SERVICE_VARS.get(addon["service"], []):
                state["apps"][addon["app"]]["config"].pop(var, None)
            del state["addons"][found]
            err.append(f"Destroying {found} on ⬢ {addon['app']}... done")
    elif cmd == "config":
        name, app = app_of(state, parsed)
        if parsed.flag("shell"):
            out += [f"{k}={quote(v)}" for k, v in sorted(app["config"].items())]
        elif parsed.flag("json"):
            out.append(pretty(app["config"]))
        else:
            out.append(f"=== {name} Config Vars")
            out += [f"{k}: {v}" for k, v in sorted(app["config"].items())]
    elif cmd == "config:get":
        name, app = app_of(state, parsed)
        out.append(app["config"].get(parsed.args[0], ""))
    elif cmd == "config:set":
        name, app = app_of(state, parsed)
        pairs = [a.split("=", 1) for a in parsed.args]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise Fail(" ›   Error: Usage: heroku config:set KEY1=VALUE1 ...")
        app["config"].update(dict(pairs))
        # The real CLI echoes what it set, secrets included: scripts must hide this.
        err.append(f"Setting {', '.join(k for k, _ in pairs)} and restarting ⬢ {name}... done")
        out += [f"{k}: {v}" for k, v in pairs]
    elif cmd == "config:unset":
        name, app = app_of(state, parsed)
        for key in parsed.args:
            app["config"].pop(key, None)
        err.append(f"Unsetting {', '.join(parsed.args)} and restarting ⬢ {name}... done")
    elif cmd == "git:remote":
        name, _ = app_of(state, parsed)
        git_remote(name, parsed.flag("remote") or git_config("heroku.remote") or "heroku", out)
    elif cmd == "pipelines:info":
        pipeline = state["pipelines"].get(parsed.args[0])
        if pipeline is None:
            raise Fail(" ›   Error: Pipeline not found")
        out.append(pretty({
            "pipeline": {"id": f"id-{parsed.args[0]}", "name": parsed.args[0]},
            "apps": [{"id": f"id-{a}", "name": a,
                      "pipelineCoupling": {"app": {"id": f"id-{a}"}, "stage": s}}
                     for a, s in pipeline["apps"].items()]}))
    elif cmd in ("pipelines:create", "pipelines:add"):
        pipeline_name = parsed.args[0]
        name, _ = app_of(state, parsed)
        if cmd == "pipelines:create":
            if pipeline_name in state["pipelines"]:
                raise Fail(" ›   Error: Name has already been taken")
            state["pipelines"][pipeline_name] = {"apps": {}, "team": parsed.flag("team"),
                                                 "review_apps": False}
        elif pipeline_name not in state["pipelines"]:
            raise Fail(" ›   Error: Pipeline not found")
        if coupling(state, name):
            raise Fail(f" ›   Error: {name} is already in a pipeline")
        state["pipelines"][pipeline_name]["apps"][name] = parsed.flag("stage")
        err.append(f"Adding ⬢ {name} to {pipeline_name} pipeline as "
                   f"{parsed.flag('stage')}... done")
    elif cmd == "pipelines:promote":
        name, app = app_of(state, parsed)
        if not coupling(state, name):
            raise Fail(f" ›   Error: {name} is not in a pipeline")
        app["promotions"].append(parsed.flag("to") or "downstream")
        err.append(f"Promoting {name}... done")
    elif cmd == "reviewapps:enable":
        pipeline = state["pipelines"].get(parsed.flag("pipeline"))
        if pipeline is None:
            raise Fail(" ›   Error: Pipeline not found")
        pipeline["review_apps"] = True
    elif cmd == "pg:backups:schedule":
        name, app = app_of(state, parsed)
        database(state, name, parsed.args[0] if parsed.args else None)
        hour, _, zone = parsed.flag("at").partition(" ")
        app["schedules"] = [{"name": parsed.args[0] if parsed.args else "DATABASE_URL",
                             "hour": int(hour.split(":")[0]), "timezone": zone or "UTC"}]
        err.append(f"Scheduling automatic daily backups of {name} at "
                   f"{parsed.flag('at')}... done")
    elif cmd == "pg:backups:schedules":
        name, app = app_of(state, parsed)
        database(state, name, None)
        if app["schedules"]:
            out.append("=== Backup Schedules\n")
            out += [f"{s['name']}: daily at {s['hour']}:00 {s['timezone']}\n"
                    for s in app["schedules"]]
        else:
            err.append(f" ›   Warning: No backup schedules found on ⬢ {name}")
    elif cmd == "pg:backups:capture":
        name, app = app_of(state, parsed)
        found, addon = database(state, name, parsed.args[0] if parsed.args else None)
        if addon["plan"].split(":")[1].startswith("shield"):
            raise Fail(" ›   Error: PGBackups are not available for Shield databases")
        backup = f"b{len(app['backups']) + 101:03d}"
        app["backups"].append({"name": backup, "data": dict(addon["data"]),
                               "status": "Completed"})
        err.append(f"Starting backup of {found}... done")
        out.append("\nUse Ctrl-C at any time to stop monitoring progress; the backup will "
                   "continue running.\nUse heroku pg:backups:info to check progress.\nStop a "
                   "running backup with heroku pg:backups:cancel.\n")
        err.append(f"Backing up DATABASE to {backup}... done")
    elif cmd == "pg:backups:info":
        name, app = app_of(state, parsed)
        backups = app["backups"]
        wanted = parsed.args[0] if parsed.args else (backups[-1]["name"] if backups else None)
        backup = next((b for b in backups if b["name"] == wanted), None)
        if backup is None:
            raise Fail(f" ›   Error: Invalid ID: {wanted}" if wanted else
                       " ›   Error: No backups. Capture one with heroku pg:backups:capture")
        size = backup["data"].get("bytes", 0)
        rows = [("Database", "DATABASE"), ("Started at", "2025-01-01 02:00:00 +0000"),
                ("Finished at", "2025-01-01 02:03:00 +0000"), ("Status", backup["status"]),
                ("Type", "Manual"), ("Original DB Size", human_size(size)),
                ("Backup Size", f"{human_size(size // 4)} (75% compression)")]
        out.append(f"=== Backup {backup['name']}\n")
        out += [f"{k + ':':<17} {v}" for k, v in rows]
        out.append("\n=== Backup Logs\n")
    elif cmd == "pg:backups:restore":
        name, app = app_of(state, parsed)
        found, addon = database(state, name, parsed.args[1] if len(parsed.args) > 1 else None)
        source = parsed.args[0] if parsed.args else ""
        source_app, _, backup_name = source.rpartition("::") if "::" in source else (
            name, "", source)
        backups = state["apps"].get(source_app, {}).get("backups", [])
        if backup_name:
            backup = next((b for b in backups if b["name"] == backup_name), None)
            if backup is None:
                raise Fail(f" ›   Error: Backup {backup_name} not found for {source_app}")
        elif backups:
            backup = backups[-1]
        else:
            raise Fail(f" ›   Error: No backups for {source_app}. Capture one with heroku "
                       "pg:backups:capture")
        if parsed.flag("confirm") != name:
            raise Fail(f" ›   Error: Confirmation {parsed.flag('confirm')} did not match "
                       f"{name}. Aborted.")
        err.append(f"Starting restore of {backup['name']} to {found}... done")
        out.append("\nUse Ctrl-C at any time to stop monitoring progress; the backup will "
                   "continue restoring.\n")
        addon["data"] = dict(backup["data"])
        app.setdefault("restores", []).append(f"{source_app}::{backup['name']}")
        err.append("Restoring... done")
    elif cmd == "pg:promote":
        name, app = app_of(state, parsed)
        found, addon = database(state, name, parsed.args[0])
        current = attachment(state, name, "DATABASE")
        if current == found:
            raise Fail(f" ›   Error: {found} is already promoted on ⬢ {name}")
        if current:
            others = [t for t in state["addons"][current]["attachments"]
                      if t["app"] == name and t["name"] != "DATABASE"]
            if not others:
                attach(state, current, name, fresh_color(state, name, "HEROKU_POSTGRESQL"))
            err.append("Ensuring an alternate alias for existing DATABASE_URL... done")
            detach(state, current, name, "DATABASE")
        attach(state, found, name, parsed.flag("as") or "DATABASE")
        err.append(f"Promoting {found} to DATABASE_URL on ⬢ {name}... done")
    elif cmd in ("maintenance:on", "maintenance:off"):
        name, app = app_of(state, parsed)
        app["maintenance"] = cmd.endswith(":on")
        err.append(f"{'Enabling' if app['maintenance'] else 'Disabling'} maintenance mode "
                   f"for ⬢ {name}... done")
    elif cmd == "maintenance":
        _, app = app_of(state, parsed)
        out.append("on" if app["maintenance"] else "off")
    elif cmd == "ps:scale":
        name, app = app_of(state, parsed)
        formation = app.setdefault("formation", {})
        if not parsed.args:
            if not formation:
                raise Fail(f" ›   Error: No process types on ⬢ {name}.\n ›   Upload a "
                           "Procfile to add process types.")
            out.append(" ".join(f"{k}={v}:Basic" for k, v in sorted(formation.items())))
            return
        changes = []
        for arg in parsed.args:
            match = re.fullmatch(r"([a-z][a-z0-9_]*)=([0-9]+)(?::[\w-]+)?", arg)
            if not match:
                raise Fail(f" ›   Error: Usage: heroku ps:scale DYNO1=AMOUNT1 ... ({arg})")
            if match[1] not in formation:
                raise Fail(f" ›   Error: Couldn't find that process type ({match[1]}).")
            changes.append((match[1], int(match[2])))
        for kind, quantity in changes:
            formation[kind] = quantity
        err.append("Scaling dynos... done, now running "
                   + ", ".join(f"{k} at {v}:Basic" for k, v in changes))
    elif cmd == "run":
        name, app = app_of(state, parsed)
        app["runs"].append(parsed.args)
        status = one_off(state, name, parsed.args)
        err.append(f"Running {shlex.join(parsed.args)} on ⬢ {name}... up, run.1234 (Basic)")
        if status and parsed.flag("exit-code"):
            raise Fail(f" ›   Error: Process exited with code {status}")
    else:
        raise Fail(f"stand-in: no answer for `heroku {cmd}` yet; teach tests/fakes/heroku")


def addon_vars(addon: dict) -> list[str]:
    names = [f"{t['name']}_URL" for t in addon["attachments"]
             if t["app"] == addon["app"] and addon["service"] in URL_SERVICES]
    return names + SERVICE_VARS.get(addon["service"], [])


def one_off(state: dict, name: str, args: list[str]) -> int:
    """What a one-off dyno does: the release command migrates, the sanitize task sanitizes,
    the database it works on read from DATABASE_URL or SANITIZE_DATABASE_URL as the dyno
    sees them (config vars, then the command's own VAR=value words, $VARS expanded)."""
    env = dict(state["apps"][name]["config"])
    words = shlex.split(args[0]) if len(args) == 1 else list(args)
    while words and (words[0] == "env" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0])):
        word = words.pop(0)
        if word != "env":
            key, _, value = word.partition("=")
            env[key] = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
                              lambda m: env.get(m[1], ""), value)
    command = " ".join(words)
    if "sanitize" in command:
        if env.get("APP_STAGE", "") in ("", "production"):
            return 1
        url = env.get("SANITIZE_DATABASE_URL") or env.get("DATABASE_URL", "")
        addon = addon_by_url(state, url)
        if addon is None:
            return 1
        addon["data"]["sanitized"] = True
        return 0
    if "migrate" in command:
        addon = addon_by_url(state, env.get("DATABASE_URL", ""))
        if addon is None:
            return 1
        addon["data"]["migrated"] = True
        return 0
    return 0


def addon_by_url(state: dict, url: str) -> dict | None:
    for addon_name, addon in state["addons"].items():
        if addon.get("data") is not None and url == url_of(addon["service"], addon_name):
            return addon
    return None


# The caller's folder, where git:remote runs git.
CWD = "."


def git_config(key: str) -> str:
    import subprocess

    result = subprocess.run(["git", "config", "--get", key], capture_output=True, text=True,
                            cwd=CWD, check=False)
    return result.stdout.strip()


def git_remote(app: str, remote: str, out: list[str]) -> None:
    import subprocess

    url = f"https://git.heroku.com/{app}.git"
    remotes = subprocess.run(["git", "remote"], capture_output=True, text=True, cwd=CWD,
                             check=True).stdout.split()
    verb = "set-url" if remote in remotes else "add"
    subprocess.run(["git", "remote", verb, remote, url], check=True, cwd=CWD)
    out.append(f"set git remote {remote} to {url}")


# --------------------------------------------------------------------------- faults


def call_number(env) -> int:
    counter = env.get("HEROKU_FAKE_COUNTER")
    if not counter:
        return 0
    try:
        with open(counter) as handle_:
            number = int(handle_.read() or 0) + 1
    except FileNotFoundError:
        number = 1
    with open(counter, "w") as handle_:
        handle_.write(str(number))
    return number


def fault_for(env, number: int, argv: list[str], command: str) -> str:
    spec = env.get("HEROKU_FAKE_FAULT", "")
    if spec:
        where, _, kind = spec.rpartition(":")
        if where.startswith("/") and where.endswith("/"):
            if re.search(where[1:-1], " ".join(argv)):
                return kind
        elif where.isdigit() and int(where) == number:
            return kind
    failing = {c for c in env.get("HEROKU_FAKE_FAIL", "").split(",") if c}
    return "fail" if command in failing else ""


def manifest(cli_dir: str, cache: str | None = None) -> Manifest:
    if cache and os.path.exists(cache):
        with open(cache, "rb") as handle_:
            return pickle.load(handle_)
    from pathlib import Path

    loaded = Manifest.load(Path(cli_dir))
    if cache:
        with open(cache, "wb") as handle_:
            pickle.dump(loaded, handle_)
    return loaded


class Reply:
    """What one call prints and returns; `after` is what the caller does then: "" (exit),
    "hang" (sleep until killed) or "wait" (a signal was sent: wait to be killed)."""

    def __init__(self, status: int, out: str = "", err: str = "", after: str = ""):
        self.status, self.out, self.err, self.after = status, out, err, after


def respond(argv: list[str], env, cwd: str, pid: int, cli: Manifest) -> Reply:
    """One call of the stand-in: env holds the HEROKU_FAKE_* settings, cwd the caller's
    folder (git:remote runs git there), pid a process of the session a signal goes to."""
    global CWD
    CWD = cwd
    number = call_number(env)
    log = env.get("HEROKU_FAKE_LOG")
    if log:
        with open(log, "a") as handle_:
            handle_.write(json.dumps(argv) + "\n")
    try:
        parsed = cli.parse(argv)
    except ManifestError as exc:
        return Reply(2, err=f" ›   Error: {exc}\n")
    fault = fault_for(env, number, argv, parsed.command)
    if fault == "fail":
        return Reply(1, err=f" ›   Error: stand-in: call {number} ({parsed.command}) failed "
                            "as the test asked\n")
    if fault == "hang":
        return Reply(1, after="hang")
    state_path = env["HEROKU_FAKE_STATE"]
    state = load_state(state_path)
    out: list[str] = []
    err: list[str] = []
    if parsed.command == "auth:token":
        # The token names the world, the run's settings and the session a signal goes
        # to, so that the Platform API stand-in (api_respond) acts as this run's calls do.
        out.append(make_token({**env, "sid": os.getsid(pid)}))
    try:
        handle(state, parsed, out, err)
        status = 0
        check_invariants(state, argv)
        with open(state_path, "w") as handle_:
            json.dump(state, handle_, indent=1)
    except Fail as exc:
        status, out, err = 1, [], [str(exc)]
    # A fault after the call: it did (or refused) its work at Heroku, then the reply was
    # lost or garbled, or the script was interrupted.
    if fault in ("INT", "TERM", "HUP"):
        os.killpg(os.getsid(pid), getattr(signal, f"SIG{fault}"))
        return Reply(130, after="wait")
    if fault == "lost":
        return Reply(1, err=" ›   Error: socket hang up\n")
    if fault == "garbage":
        return Reply(0, out=GARBAGE + "\n")
    return Reply(status, out="".join(line + "\n" for line in out),
                 err="".join(line + "\n" for line in err))


def make_token(settings: dict) -> str:
    import base64

    return "fake." + base64.urlsafe_b64encode(json.dumps(settings).encode()).decode().rstrip("=")


def read_token(header: str) -> dict | None:
    import base64

    token = header.removeprefix("Bearer ").strip()
    if not token.startswith("fake."):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token[5:] + "=" * (-len(token[5:]) % 4)))
    except ValueError:
        return None


def api_respond(method: str, path: str, headers: dict, body: bytes) -> tuple[int, str, str]:
    """One request to the Platform API stand-in: (HTTP status, body, after), after being
    "" or, for the faults, "hang" (answer nothing) or "drop" (close without an answer).
    Only PATCH /apps/APP/config-vars is served, as bin/heroku-setup sends it for secrets.
    It counts, logs (as ["<api>", METHOD, PATH, names...]) and takes faults as a call."""
    settings = read_token(headers.get("Authorization", ""))
    if settings is None:
        return 401, '{"id":"unauthorized","message":"Invalid credentials provided."}', ""
    match = re.fullmatch(r"/apps/([a-z0-9-]+)/config-vars", path)
    try:
        values = json.loads(body or b"{}")
    except ValueError:
        return 400, '{"id":"bad_request","message":"Invalid JSON."}', ""
    argv = ["<api>", method, path, *sorted(values)]
    number = call_number(settings)
    if settings.get("HEROKU_FAKE_LOG"):
        with open(settings["HEROKU_FAKE_LOG"], "a") as handle_:
            handle_.write(json.dumps(argv) + "\n")
    fault = fault_for(settings, number, argv, "<api>")
    if fault == "fail":
        return 503, '{"id":"unavailable","message":"stand-in: failed as the test asked"}', ""
    if fault == "hang":
        return 0, "", "hang"
    if method != "PATCH" or not match:
        return 404, '{"id":"not_found","message":"Not found."}', ""
    state = load_state(settings["HEROKU_FAKE_STATE"])
    app = state["apps"].get(match[1])
    if app is None:
        return 404, '{"id":"not_found","message":"Couldn\'t find that app."}', ""
    if not all(isinstance(v, str) for v in values.values()):
        return 422, '{"id":"invalid_params","message":"Values must be strings."}', ""
    app["config"].update(values)
    check_invariants(state, argv)
    with open(settings["HEROKU_FAKE_STATE"], "w") as handle_:
        json.dump(state, handle_, indent=1)
    if fault in ("INT", "TERM", "HUP"):
        os.killpg(settings["sid"], getattr(signal, f"SIG{fault}"))
    if fault == "lost":
        return 0, "", "drop"
    if fault == "garbage":
        return 200, GARBAGE, ""
    return 200, json.dumps(app["config"]), ""


def main(argv: list[str]) -> int:
    cli_dir = os.environ.get("HEROKU_CLI_DIR",
                             os.path.expanduser("~/.cache/copier-heroku/heroku-cli"))
    reply = respond(argv, os.environ, os.getcwd(), os.getpid(),
                    manifest(cli_dir, os.environ.get("HEROKU_FAKE_MANIFEST_CACHE")))
    sys.stdout.write(reply.out)
    sys.stderr.write(reply.err)
    sys.stdout.flush()
    if reply.after == "hang":
        time.sleep(3600)
    elif reply.after == "wait":
        time.sleep(30)
    return reply.status
