"""The questions' side of the catalog: the choices copier.yml offers, and the validators.

Each validator returns "" when the answer is fine, else one plain sentence for the prompt.
Choices are rendered from the catalog, so a label exists once and a fork's new entry is
offered without touching copier.yml.
"""

from __future__ import annotations

import json
import keyword
import re
from typing import Any, Mapping

from .catalog import (
    ADDONS,
    AUTOSCALERS,
    DEV_SERVERS,
    NO_AUTOSCALER,
    NO_WORKER,
    PACKAGE_MANAGERS,
    STACKS,
    WEB_SERVERS,
    WORKER_LIMIT,
    WORKERS,
)

_APP_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SCHEDULE = re.compile(r"^(?P<hour>[01][0-9]|2[0-3]):00 (?P<zone>\S+)$")

# --------------------------------------------------------------------------- choices


def _label(entry: Any) -> str:
    return f"{entry.label} ({entry.hint})" if entry.hint else entry.label


def worker_choice_error(worker: Any, stack: Any) -> str:
    """Why a worker choice is disabled for this stack, "" when the stack can run it."""
    entry = WORKERS.get(str(worker))
    if entry is None or str(stack) in entry.stacks:
        return ""
    others = [w.key for w in WORKERS.values() if str(stack) in w.stacks]
    return (f"{entry.label} runs on {' and '.join(entry.stacks)} only; for {stack} choose "
            f"{' or '.join([*others, 'none'])}.")


def package_manager_choice_error(key: Any, detected: Any) -> str:
    """Why a package manager is disabled here, "" when it can be chosen: one the catalog
    does not offer to new apps (Pipenv) only where the app already uses it."""
    entry = PACKAGE_MANAGERS.get(str(key))
    if entry is None or entry.offered or str(detected) == entry.key:
        return ""
    others = [pm.key for pm in PACKAGE_MANAGERS.values() if pm.offered]
    return (f"{entry.label} is kept for apps that already have its {entry.marker}; "
            f"choose {', '.join(others[:-1])} or {others[-1]}.")


def offered(question: str, stack: Any = "", detected: Any = "") -> dict[str, Any]:
    """The choices of one question, label to value, in catalog order.

    Servers are the stack's own. Every worker is listed; one the stack cannot run is
    disabled with the sentence that says why (Copier's choice validator), so that
    `--data worker=celery` on a Rails app is refused with that sentence too. So is a
    package manager offered only to apps that use it already (`detected`: the one the
    destination's files name)."""
    stack = str(stack or "")
    if question == "python_package_manager":
        choices = {}
        for pm in PACKAGE_MANAGERS.values():
            refusal = package_manager_choice_error(pm.key, detected)
            choices[_label(pm)] = {"value": pm.key, "validator": refusal} if refusal \
                else pm.key
        return choices
    if question == "stack":
        return {_label(s): s.key for s in STACKS.values()}
    if question == "addons":
        return {_label(a): a.key for a in ADDONS.values()}
    if question in ("web_server", "dev_server"):
        table = WEB_SERVERS if question == "web_server" else DEV_SERVERS
        return {_label(s): s.key for s in table.values() if not stack or stack in s.stacks}
    if question == "worker":
        choices: dict[str, Any] = {NO_WORKER: "none"}
        for worker in WORKERS.values():
            refusal = worker_choice_error(worker.key, stack) if stack else ""
            choices[_label(worker)] = ({"value": worker.key, "validator": refusal}
                                       if refusal else worker.key)
        return choices
    if question == "autoscaler":
        return {NO_AUTOSCALER: "none", **{_label(a): a.key for a in AUTOSCALERS.values()}}
    if question.endswith("_version") and question[:-len("_version")] in STACKS:
        return {_label(v): v.key for v in STACKS[question[:-len("_version")]].versions}
    raise KeyError(f"no catalog choices for the question {question!r}")


def choices(question: str, stack: Any = "", detected: Any = "") -> str:
    """offered() as the YAML text Copier parses from a templated `choices:` (JSON is
    YAML). Copier renders labels and validators once more: they hold no braces."""
    return json.dumps(offered(question, stack, detected), ensure_ascii=False)


# --------------------------------------------------------------------------- free answers


def slugify(text: str) -> str:
    """Lowercase, dashes for anything else, no leading digits or dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return re.sub(r"^[0-9-]+", "", slug)[:30].rstrip("-")


def app_slug_default(project_name: str) -> str:
    """The suggested slug: the project name slugified, made long enough for Heroku."""
    slug = slugify(project_name)
    return slug if len(slug) >= 3 else f"{slug}-app".lstrip("-")


def heroku_app_name_error(name: Any, what: str = "App name") -> str:
    name = "" if name is None else str(name)
    if not 3 <= len(name) <= 30 or not _APP_NAME.match(name) or "--" in name:
        return (f"{what} must be 3 to 30 characters of lowercase letters, digits and "
                f"dashes, start with a letter and end with a letter or digit "
                f"(Heroku's rule); got {name!r}.")
    return ""


def apps_differ_error(production_app: Any, staging_app: Any) -> str:
    if str(production_app) == str(staging_app):
        return ("Staging app must differ from the production app, or a staging deploy "
                "would land in production.")
    return ""


def team_name_error(name: Any) -> str:
    name = "" if name is None else str(name)
    if name and (len(name) > 30 or not _TEAM_NAME.match(name)):
        return (f"Heroku team must be empty or a team name of lowercase letters, digits "
                f"and dashes; got {name!r}.")
    return ""


def _known_time_zones() -> set[str]:
    try:
        from zoneinfo import available_timezones

        return set(available_timezones()) | {"UTC"}
    except Exception:  # pragma: no cover - no tz database: accept the common spellings
        return {"UTC"}


def backup_schedule_error(schedule: Any) -> str:
    schedule = "" if schedule is None else str(schedule)
    if not schedule:
        return ""
    match = _SCHEDULE.match(schedule)
    zones = _known_time_zones()
    if not match or (len(zones) > 1 and match["zone"] not in zones):
        return (f"Backup schedule must be a whole hour and a time zone such as "
                f"'02:00 UTC' or '03:00 Europe/Paris', or empty for none; got "
                f"{schedule!r}.")
    return ""


def project_name_error(name: Any) -> str:
    name = "" if name is None else str(name)
    if not name.strip() or not slugify(name):
        return "Project name must contain at least one letter."
    if len(name) > 60 or any(c in name for c in "\"'`$\\<>|;&{}\n"):
        return ("Project name must be at most 60 characters, without quotes, "
                "backslashes or shell characters such as $ ` ; | & < > { }.")
    return ""


def python_module_error(name: Any) -> str:
    name = "" if name is None else str(name)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,39}", name) or keyword.iskeyword(name):
        return (f"Python package must be a lowercase Python name of letters, digits and "
                f"underscores, not starting with a digit; got {name!r}.")
    return ""


def whole_number(value: Any) -> int | None:
    text = "" if value is None or isinstance(value, bool) else str(value).strip()
    return int(text) if re.fullmatch(r"[0-9]{1,3}", text) else None


def worker_min_error(worker_min: Any, autoscaler: Any = "none") -> str:
    number = whole_number(worker_min)
    if number is None or number > WORKER_LIMIT:
        return (f"Minimum worker dynos must be a whole number from 0 to {WORKER_LIMIT}; "
                f"got {worker_min!r}.")
    if number == 0 and str(autoscaler or "none") == "none":
        return ("Minimum worker dynos can be 0 only with an autoscaler, which starts a "
                "worker when jobs wait; without one no job would ever run.")
    return ""


def worker_max_error(worker_max: Any, worker_min: Any) -> str:
    number = whole_number(worker_max)
    if number is None or number > WORKER_LIMIT:
        return (f"Maximum worker dynos must be a whole number from 1 to {WORKER_LIMIT}; "
                f"got {worker_max!r}.")
    low = whole_number(worker_min)
    if low is not None and number < max(low, 1):
        return (f"Maximum worker dynos must be at least the minimum ({low}) and at least "
                f"1; got {number}.")
    return ""


def detect_version(stack: Any, lock_text: str) -> str:
    """The stack's release line (a key of stack.versions) that a Gemfile.lock locks, by the
    version of stack.version_package among its specs; the newest line for a newer release,
    "" when the lock has no such entry or an older release than any line."""
    match = re.search(rf"^ {{4}}{re.escape(stack.version_package)} \((\d+)\.(\d+)[^)]*\)",
                      lock_text, re.M)
    if not match:
        return ""
    locked = (int(match[1]), int(match[2]))
    fitting = [v for v in stack.versions if v.number <= locked]
    return fitting[-1].key if fitting else ""


def newest_version(stack: str) -> str:
    """The newest release line of a stack's framework: a new app's."""
    return STACKS[stack].versions[-1].key


def version_error(answer: Any, detected: Any, label: str = "Rails") -> str:
    """An answer that disagrees with the app's lock file would shape the layer for another
    release than the one that runs: refused, with the answer that fits."""
    if detected and str(answer) != str(detected):
        return (f"Gemfile.lock locks {label} {detected}, so the version must be {detected}, "
                f"not {answer!r} (copier update --trust --data "
                f"{label.lower()}_version={detected}).")
    return ""


VALIDATORS: Mapping[str, Any] = {
    "version_error": version_error,
    "heroku_app_name_error": heroku_app_name_error,
    "team_name_error": team_name_error,
    "backup_schedule_error": backup_schedule_error,
    "project_name_error": project_name_error,
    "python_module_error": python_module_error,
    "worker_min_error": worker_min_error,
    "worker_max_error": worker_max_error,
}
