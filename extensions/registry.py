"""The one source of truth for copier-heroku: stacks, servers, addons and config vars.

Plain data and pure functions, no Jinja and no I/O, so a team fork changes a default
plan or adds an addon here, in one place, and every rendered file follows: Procfile
lines, Gemfile.deploy, app.json, .env.example, the setup scripts and DEPLOY.md.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class ConfigVar:
    """One environment variable the generated app reads."""

    name: str
    description: str
    # What .env.example shows: a placeholder, never a real secret.
    example: str
    # The value the setup script sets on Heroku; None when something else sets it
    # (an addon, Heroku itself, or the setup script's secret generator).
    heroku_value: str | None = None
    # Who provides the value on Heroku, shown in DEPLOY.md's table.
    source: str = "bin/heroku-setup"
    secret: bool = False
    # False for variables that must stay unset in development (.env.example comments
    # them out): Heroku's PORT, the production DATABASE_URL, the framework environment.
    local: bool = True
    # The value .env gets at copy time; None leaves the variable out of .env.
    development_value: str | None = None


@dataclass(frozen=True)
class Package:
    """A gem (rails) or a PyPI requirement (django, flask) the deploy layer needs."""

    name: str
    requirement: str = ""
    group: str = ""  # "" for every environment, else a Bundler group such as "development"


@dataclass(frozen=True)
class Addon:
    key: str  # the Heroku add-on service name, also the answer value
    label: str
    plan: str  # default plan; forks change it here
    provides: tuple[ConfigVar, ...] = ()
    packages: Mapping[str, tuple[Package, ...]] = field(default_factory=dict)
    # Per stack, a command the web process runs under (New Relic's Python agent wraps it).
    web_wrapper: Mapping[str, str] = field(default_factory=dict)
    docs: str = ""

    @property
    def service_plan(self) -> str:
        # No plan: Heroku gives the add-on's default plan.
        return f"{self.key}:{self.plan}" if self.plan else self.key


@dataclass(frozen=True)
class WebServer:
    key: str
    label: str
    stacks: tuple[str, ...]
    # Per stack; {module} stands for the app's Python package.
    command: Mapping[str, str]
    config_file: str
    package: Package | None = None


@dataclass(frozen=True)
class DevServer:
    key: str
    label: str
    stacks: tuple[str, ...]
    command: str
    package: Package | None = None


@dataclass(frozen=True)
class Worker:
    """A background job runner: the `worker:` process of Procfile and Procfile.dev."""

    key: str
    label: str
    stacks: tuple[str, ...]
    command: str  # Procfile's worker line; {module} stands for the app's Python package
    addon: str  # the add-on that holds its queue, joined to the chosen ones
    packages: tuple[Package, ...]
    queue: str  # the queue the smoke job uses and the autoscalers watch
    # How a developer enqueues the smoke job; {module} as above.
    smoke: str
    config_vars: tuple[ConfigVar, ...] = ()
    docs: str = ""
    # Procfile.dev's worker line, when it differs from Procfile's.
    dev_command: str = ""

    @property
    def development_command(self) -> str:
        return self.dev_command or self.command


@dataclass(frozen=True)
class Autoscaler:
    """A service that scales the worker between worker_min and worker_max dynos."""

    key: str
    label: str
    # Per worker: what the app needs so the service can read the queue.
    packages: Mapping[str, tuple[Package, ...]]
    provides: tuple[ConfigVar, ...] = ()
    addon: str = ""  # an add-on to create on both apps, "" for none
    # Where the minimum and maximum are set: the service reads them from its dashboard.
    dashboard: str = ""
    # One sentence per step, {app}, {min}, {max}, {queue} filled in per app.
    steps: tuple[str, ...] = ()
    docs: str = ""


@dataclass(frozen=True)
class Stack:
    key: str
    label: str
    # False while the stack is not built yet: copier.yml refuses it with a sentence.
    available: bool
    process_manager: str  # runs Procfile.dev in development
    process_manager_install: str
    secret_var: str
    framework_env_var: str
    release: str  # release-phase command, "" for none
    # True when the release phase only makes sense with the Postgres add-on.
    release_needs_database: bool
    buildpack: str
    default_web_server: str
    default_dev_server: str
    config_vars: tuple[ConfigVar, ...] = ()
    # What the layer asks Bundler or pip for, whatever the add-ons.
    packages: tuple[Package, ...] = ()
    # The file that lists `packages`, and the line that pulls it into the app's own file.
    dependency_file: str = ""
    python: bool = False

    @property
    def gitignore_partial(self) -> str:
        """includes/gitignore/<this>.gitignore: one for Rails, one for the Python stacks."""
        return "python" if self.python else self.key


# --------------------------------------------------------------------------- registry

APP_STAGES = ("production", "staging", "review", "development")

RAILS_CONFIG_VARS = (
    ConfigVar(
        "SECRET_KEY_BASE",
        "Signs and encrypts cookies and sessions. One random value per app; production "
        "refuses to boot without it.",
        "generate-with-bin-rails-secret",
        source="bin/heroku-setup (random, one per app)",
        secret=True,
    ),
    ConfigVar(
        "APP_STAGE",
        "Which stage this deploy is: production, staging, review or development. "
        "Guards such as the sanitize task read it, not RAILS_ENV.",
        "development",
        source="bin/heroku-setup",
        development_value="development",
    ),
    ConfigVar(
        "RAILS_ENV",
        "Rails environment. Staging runs production too: staging is production with "
        "different config vars.",
        "production",
        heroku_value="production",
        local=False,
    ),
    ConfigVar("RACK_ENV", "Rack environment, kept equal to RAILS_ENV.", "production",
              heroku_value="production", local=False),
    ConfigVar("RAILS_LOG_TO_STDOUT", "Send the Rails log to stdout, where Heroku's log "
              "router reads it.", "enabled", heroku_value="enabled"),
    ConfigVar("RAILS_SERVE_STATIC_FILES", "Let Rails serve public/ (no web server in "
              "front of it on Heroku).", "enabled", heroku_value="enabled"),
    ConfigVar("WEB_CONCURRENCY", "Web server worker processes per dyno.", "2",
              heroku_value="2", local=False),
    ConfigVar("RAILS_MAX_THREADS", "Threads per worker process; also the size of the "
              "database connection pool.", "5", heroku_value="5"),
    ConfigVar("PORT", "The port the web process binds; Heroku sets it on every dyno, "
              "foreman sets it in development.", "5000", source="Heroku",
              local=False),
)

PYTHON_CONFIG_VARS = (
    ConfigVar(
        "SECRET_KEY",
        "Signs sessions, cookies and tokens. One random value per app; production "
        "refuses to boot without it.",
        "generate-a-long-random-value",
        source="bin/heroku-setup (random, one per app)",
        secret=True,
    ),
    ConfigVar(
        "APP_STAGE",
        "Which stage this deploy is: production, staging, review or development. Debug "
        "mode and guards such as the sanitize task read it; unset counts as production.",
        "development",
        source="bin/heroku-setup",
        development_value="development",
    ),
    ConfigVar("ALLOWED_HOSTS", "Host names the app answers, comma-separated; a leading dot "
              "allows subdomains.", "localhost,127.0.0.1", heroku_value=".herokuapp.com"),
    ConfigVar("WEB_CONCURRENCY", "Gunicorn worker processes per dyno.", "2",
              heroku_value="2", local=False),
    ConfigVar("PORT", "The port the web process binds; Heroku sets it on every dyno, "
              "honcho sets it in development.", "5000", source="Heroku", local=False),
)

# heroku_sanitize reads config/sanitize.yml with it.
SANITIZE_RULES_READER = Package("PyYAML", ">=6")

STACKS: dict[str, Stack] = {
    "rails": Stack(
        key="rails",
        label="Ruby on Rails",
        available=True,
        process_manager="foreman",
        process_manager_install="gem install foreman",
        secret_var="SECRET_KEY_BASE",
        framework_env_var="RAILS_ENV",
        release="bin/rails db:migrate",
        release_needs_database=True,
        buildpack="heroku/ruby",
        default_web_server="puma",
        default_dev_server="puma",
        config_vars=RAILS_CONFIG_VARS,
        dependency_file="Gemfile.deploy",
    ),
    "django": Stack(
        key="django",
        label="Django",
        available=True,
        process_manager="honcho",
        process_manager_install="pip install honcho",
        secret_var="SECRET_KEY",
        framework_env_var="DJANGO_ENV",
        release="python manage.py migrate --noinput",
        release_needs_database=False,
        buildpack="heroku/python",
        default_web_server="gunicorn",
        default_dev_server="runserver",
        config_vars=PYTHON_CONFIG_VARS,
        packages=(Package("Django", ">=4.2,<6"), Package("dj-database-url", ">=2.1"),
                  Package("whitenoise", ">=6.5"), SANITIZE_RULES_READER),
        dependency_file="requirements-deploy.txt",
        python=True,
    ),
    "flask": Stack(
        key="flask",
        label="Flask",
        available=True,
        process_manager="honcho",
        process_manager_install="pip install honcho",
        secret_var="SECRET_KEY",
        framework_env_var="FLASK_ENV",
        release="",
        release_needs_database=False,
        buildpack="heroku/python",
        default_web_server="gunicorn",
        default_dev_server="flask",
        config_vars=(*PYTHON_CONFIG_VARS, ConfigVar(
            "FLASK_APP", "The package whose create_app() the flask command loads, for "
            "`flask sanitize` and your own commands.", "{module}", heroku_value="{module}",
            development_value="{module}")),
        packages=(Package("Flask", ">=3.1"), SANITIZE_RULES_READER),
        dependency_file="requirements-deploy.txt",
        python=True,
    ),
}

WEB_SERVERS: dict[str, WebServer] = {
    "puma": WebServer(
        key="puma",
        label="Puma (threads and workers)",
        stacks=("rails",),
        command={"rails": "bundle exec puma -C config/puma.rb"},
        config_file="config/puma.rb",
        package=Package("puma", ">= 5.0"),
    ),
    "unicorn": WebServer(
        key="unicorn",
        label="Unicorn (processes only)",
        stacks=("rails",),
        command={"rails": "bundle exec unicorn -p $PORT -c ./config/unicorn.rb"},
        config_file="config/unicorn.rb",
        package=Package("unicorn", ">= 5.0"),
    ),
    "gunicorn": WebServer(
        key="gunicorn",
        label="Gunicorn",
        stacks=("django", "flask"),
        command={"django": "gunicorn {module}.wsgi --config gunicorn.conf.py",
                 "flask": "gunicorn '{module}:create_app()' --config gunicorn.conf.py"},
        config_file="gunicorn.conf.py",
        package=Package("gunicorn", ">=22"),
    ),
}

DEV_SERVERS: dict[str, DevServer] = {
    "puma": DevServer(
        key="puma",
        label="Puma via bin/rails server",
        stacks=("rails",),
        command="bin/rails server -p $PORT",
    ),
    "thin": DevServer(
        key="thin",
        label="Thin",
        stacks=("rails",),
        # Loopback only, as `bin/rails server` binds in development.
        command="bundle exec thin start -a 127.0.0.1 -p $PORT",
        package=Package("thin", ">= 1.7", group="development"),
    ),
    "runserver": DevServer(
        key="runserver",
        label="Django's runserver",
        stacks=("django",),
        command="python manage.py runserver 127.0.0.1:$PORT",
    ),
    "flask": DevServer(
        key="flask",
        label="flask run --debug",
        stacks=("flask",),
        command="flask --app {module} run --debug --port $PORT",
    ),
}

ADDONS: dict[str, Addon] = {
    "heroku-postgresql": Addon(
        key="heroku-postgresql",
        label="Heroku Postgres",
        plan="essential-0",
        provides=(
            ConfigVar("DATABASE_URL", "PostgreSQL connection URL. Leave it unset in "
                      "development, where the app uses its local database settings.",
                      "postgres://USER:PASSWORD@localhost:5432/DATABASE",
                      source="heroku-postgresql add-on", local=False),
            ConfigVar("SANITIZE_SALT", "Keys the sanitize task's hash strategy, on staging "
                      "only; it wins over the salt in config/sanitize.yml.",
                      "any-long-random-text", source="bin/heroku-setup (random, staging)",
                      secret=True, local=False),
        ),
        packages={"rails": (Package("pg", ">= 1.1"),),
                  "django": (Package("psycopg[binary]", ">=3.1"),),
                  "flask": (Package("psycopg[binary]", ">=3.1"),)},
        docs="https://devcenter.heroku.com/articles/heroku-postgresql",
    ),
    "newrelic": Addon(
        key="newrelic",
        label="New Relic APM",
        plan="wayne",
        provides=(
            ConfigVar("NEW_RELIC_LICENSE_KEY", "New Relic licence key; the agent stays "
                      "off without it.", "your-new-relic-license-key",
                      source="newrelic add-on", secret=True, local=False),
            ConfigVar("NEW_RELIC_APP_NAME", "Name the app reports under in New Relic, "
                      "one per stage.", "APP_NAME", source="bin/heroku-setup"),
            ConfigVar("NEW_RELIC_LOG", "Where the agent logs; stdout on Heroku.",
                      "stdout", heroku_value="stdout"),
        ),
        packages={"rails": (Package("newrelic_rpm", ">= 9.0"),),
                  "django": (Package("newrelic", ">=9"),),
                  "flask": (Package("newrelic", ">=9"),)},
        web_wrapper={"django": "newrelic-admin run-program",
                     "flask": "newrelic-admin run-program"},
        docs="https://devcenter.heroku.com/articles/newrelic",
    ),
    "papertrail": Addon(
        key="papertrail",
        label="Papertrail log search",
        plan="choklad",
        provides=(
            ConfigVar("PAPERTRAIL_API_TOKEN", "Papertrail API token, for its CLI.",
                      "your-papertrail-api-token", source="papertrail add-on",
                      secret=True),
        ),
        docs="https://devcenter.heroku.com/articles/papertrail",
    ),
    "heroku-redis": Addon(
        key="heroku-redis",
        label="Heroku Key-Value Store (Redis)",
        plan="mini",
        provides=(
            ConfigVar("REDIS_URL", "Redis URL; rediss:// with a self-signed certificate "
                      "on Heroku.", "redis://localhost:6379/0",
                      source="heroku-redis add-on"),
        ),
        packages={"rails": (Package("redis", ">= 4.0"),),
                  "django": (Package("redis", ">=5"),),
                  "flask": (Package("redis", ">=5"),)},
        docs="https://devcenter.heroku.com/articles/heroku-redis",
    ),
    "scheduler": Addon(
        key="scheduler",
        label="Heroku Scheduler",
        plan="standard",
        docs="https://devcenter.heroku.com/articles/scheduler",
    ),
}

# Add-ons not offered by the `addons` question: created because another answer needs
# them (the autoscaler).
IMPLIED_ADDONS: dict[str, Addon] = {}
IMPLIED_ADDONS["judoscale"] = Addon(
    key="judoscale",
    label="Judoscale autoscaler",
    plan="",
    provides=(
        ConfigVar("JUDOSCALE_URL", "Where the Judoscale adapter reports queue times; the "
                  "adapter stays off without it, as in development.",
                  "https://adapter.judoscale.com/api/TOKEN", source="judoscale add-on",
                  secret=True, local=False),
    ),
    docs="https://devcenter.heroku.com/articles/judoscale",
)

WORKERS: dict[str, Worker] = {
    "sidekiq": Worker(
        key="sidekiq",
        label="Sidekiq",
        stacks=("rails",),
        # Threads equal to the database pool (RAILS_MAX_THREADS), so no job waits for a
        # connection.
        command="bundle exec sidekiq -c ${{RAILS_MAX_THREADS:-5}}",
        addon="heroku-redis",
        packages=(Package("sidekiq", ">= 6.4"),),
        queue="default",
        smoke='bin/rails runner "SmokeJob.perform_later"',
        docs="https://github.com/sidekiq/sidekiq/wiki/Heroku",
    ),
    "good_job": Worker(
        key="good_job",
        label="GoodJob",
        stacks=("rails",),
        command="bundle exec good_job start",
        addon="heroku-postgresql",
        packages=(Package("good_job", ">= 3.0"),),
        queue="default",
        smoke='bin/rails runner "SmokeJob.perform_later"',
        docs="https://github.com/bensheldon/good_job",
    ),
    "celery": Worker(
        key="celery",
        label="Celery",
        stacks=("django", "flask"),
        command="celery --app {module}.worker worker --loglevel INFO",
        addon="heroku-redis",
        packages=(Package("celery[redis]", ">=5.3"),),
        queue="celery",
        smoke='python -c "from {module}.tasks import smoke; smoke.delay()"',
        config_vars=(
            ConfigVar("WORKER_CONCURRENCY", "Celery worker processes per worker dyno. "
                      "Celery's own default, the CPU count, is too many for a Basic dyno's "
                      "memory.", "2", heroku_value="2"),
        ),
        docs="https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html",
    ),
    "rq": Worker(
        key="rq",
        label="RQ",
        stacks=("django", "flask"),
        command="rq worker --config {module}.worker --with-scheduler default",
        addon="heroku-redis",
        packages=(Package("rq", ">=1.16"),),
        queue="default",
        smoke='python -c "from {module}.tasks import enqueue_smoke; enqueue_smoke()"',
        docs="https://python-rq.org/docs/workers/",
    ),
}

AUTOSCALERS: dict[str, Autoscaler] = {
    "hirefire": Autoscaler(
        key="hirefire",
        label="HireFire",
        packages={"sidekiq": (Package("hirefire-resource", ">= 1.0"),),
                  "good_job": (Package("hirefire-resource", ">= 1.0"),),
                  "celery": (Package("hirefire-resource", ">=1.0"),),
                  "rq": (Package("hirefire-resource", ">=1.0"),)},
        provides=(
            ConfigVar("HIREFIRE_TOKEN", "HireFire's token for this app; the web process "
                      "answers HireFire's queue requests only when it is set.",
                      "your-hirefire-token", source="you, from the HireFire dashboard",
                      secret=True, local=False),
        ),
        dashboard="https://manager.hirefire.io",
        steps=(
            "Sign in to HireFire (https://manager.hirefire.io) with your Heroku account "
            "and add the app {app}.",
            "Copy the app's token from HireFire, then: heroku config:set "
            "HIREFIRE_TOKEN=<token> -a {app}",
            "Add a dyno manager named worker (the Procfile process) of the job queue "
            "latency kind, queue {queue}, and set Minimum {min} and Maximum {max}; then "
            "enable it.",
        ),
        docs="https://docs.hirefire.io",
    ),
    "judoscale": Autoscaler(
        key="judoscale",
        label="Judoscale",
        packages={"sidekiq": (Package("judoscale-rails", ">= 1.5"),
                              Package("judoscale-sidekiq", ">= 1.5")),
                  "good_job": (Package("judoscale-rails", ">= 1.5"),
                               Package("judoscale-good_job", ">= 1.5")),
                  "celery": (Package("judoscale[celery]", ">=1.6"),),
                  "rq": (Package("judoscale[rq]", ">=1.6"),)},
        addon="judoscale",
        dashboard="heroku addons:open judoscale",
        steps=(
            "Open Judoscale's dashboard: heroku addons:open judoscale -a {app}",
            "Pick the worker dyno, set its Dyno Range to {min} - {max}, watch queue "
            "{queue}, and turn autoscaling on.",
        ),
        docs="https://judoscale.com/docs",
    ),
}

WORKER_LIMIT = 100  # the largest worker_max the template accepts

DEFAULT_ADDONS = ("heroku-postgresql", "newrelic")
POSTGRES = "heroku-postgresql"

# --------------------------------------------------------------------------- validators
# Each returns "" when the answer is fine, else one plain sentence for the prompt.

_APP_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SCHEDULE = re.compile(r"^(?P<hour>[01][0-9]|2[0-3]):00 (?P<zone>\S+)$")


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


def stack_error(stack: Any) -> str:
    entry = STACKS.get(str(stack))
    if entry is None:
        return f"Stack must be one of {', '.join(STACKS)}; got {stack!r}."
    if not entry.available:
        return (f"The {entry.label} stack is not built yet; choose rails for now "
                f"(Django and Flask are on the roadmap).")
    return ""


def addons_error(addons: Any) -> str:
    unknown = [a for a in (addons or []) if a not in ADDONS]
    if unknown:
        return (f"Unknown add-on {', '.join(map(str, unknown))}: choose from "
                f"{', '.join(ADDONS)}.")
    return ""


def worker_choice_error(worker: Any, stack: Any) -> str:
    """Disables a worker choice that the chosen stack cannot run."""
    entry = WORKERS.get(str(worker))
    if entry is None or str(stack) in entry.stacks:
        return ""
    others = [w.key for w in WORKERS.values() if str(stack) in w.stacks]
    return (f"{entry.label} runs on {' and '.join(entry.stacks)} only; for {stack} choose "
            f"{' or '.join([*others, 'none'])}.")


def _whole_number(value: Any) -> int | None:
    text = "" if value is None or isinstance(value, bool) else str(value).strip()
    return int(text) if re.fullmatch(r"[0-9]{1,3}", text) else None


def worker_min_error(worker_min: Any, autoscaler: Any = "none") -> str:
    number = _whole_number(worker_min)
    if number is None or number > WORKER_LIMIT:
        return (f"Minimum worker dynos must be a whole number from 0 to {WORKER_LIMIT}; "
                f"got {worker_min!r}.")
    if number == 0 and str(autoscaler or "none") == "none":
        return ("Minimum worker dynos can be 0 only with an autoscaler, which starts a "
                "worker when jobs wait; without one no job would ever run.")
    return ""


def worker_max_error(worker_max: Any, worker_min: Any) -> str:
    number = _whole_number(worker_max)
    if number is None or number > WORKER_LIMIT:
        return (f"Maximum worker dynos must be a whole number from 1 to {WORKER_LIMIT}; "
                f"got {worker_max!r}.")
    low = _whole_number(worker_min)
    if low is not None and number < max(low, 1):
        return (f"Maximum worker dynos must be at least the minimum ({low}) and at least "
                f"1; got {number}.")
    return ""


def apps_differ_error(production_app: Any, staging_app: Any) -> str:
    if str(production_app) == str(staging_app):
        return "Staging app must differ from the production app, or a staging deploy " \
               "would land in production."
    return ""


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """Everything the rendered files need, derived once from the answers."""

    stack: Stack
    web_server: WebServer
    dev_server: DevServer
    addons: tuple[Addon, ...]
    project_name: str
    production_app: str
    staging_app: str
    backup_schedule: str
    module: str = ""  # the Python package of a django or flask app
    worker: Worker | None = None
    autoscaler: Autoscaler | None = None
    worker_min: int = 1  # dynos bin/heroku-setup scales the worker to at least
    worker_max: int = 1  # the autoscaler's ceiling; equal to worker_min without one

    @property
    def has_postgres(self) -> bool:
        return any(a.key == POSTGRES for a in self.addons)

    @property
    def backups_at(self) -> str:
        """The production backup schedule, or "" when there is no database to back up."""
        return self.backup_schedule if self.has_postgres else ""

    @property
    def web_command(self) -> str:
        command = self.web_server.command[self.stack.key].format(module=self.module)
        wrappers = [a.web_wrapper[self.stack.key] for a in self.addons
                    if self.stack.key in a.web_wrapper]
        return " ".join([*wrappers, command])

    @property
    def worker_command(self) -> str:
        return self.worker.command.format(module=self.module) if self.worker else ""

    @property
    def smoke_command(self) -> str:
        """How a developer enqueues the smoke job, in the app's folder."""
        return self.worker.smoke.format(module=self.module) if self.worker else ""

    def autoscale_steps(self, app: str) -> list[str]:
        """What to set in the autoscaler's dashboard for one app, one sentence a step."""
        if not (self.worker and self.autoscaler):
            return []
        return [step.format(app=app, min=self.worker_min, max=self.worker_max,
                            queue=self.worker.queue) for step in self.autoscaler.steps]

    @property
    def procfile(self) -> list[tuple[str, str]]:
        lines = [("web", self.web_command)]
        if self.worker:
            lines.append(("worker", self.worker_command))
        if self.stack.release and (self.has_postgres or not self.stack.release_needs_database):
            lines.append(("release", self.stack.release))
        return lines

    @property
    def procfile_dev(self) -> list[tuple[str, str]]:
        lines = [("web", self.dev_server.command.format(module=self.module))]
        if self.worker:
            lines.append(("worker", self.worker.development_command.format(module=self.module)))
        return lines

    @property
    def packages(self) -> list[Package]:
        """What Gemfile.deploy or requirements-deploy.txt asks for, in a stable order."""
        packages = [*self.stack.packages,
                    *(p for p in (self.web_server.package, self.dev_server.package) if p)]
        for addon in self.addons:
            packages.extend(addon.packages.get(self.stack.key, ()))
        if self.worker:
            packages.extend(self.worker.packages)
            if self.autoscaler:
                packages.extend(self.autoscaler.packages[self.worker.key])
        return packages

    @property
    def config_vars(self) -> list[ConfigVar]:
        seen: dict[str, ConfigVar] = {}
        worker_vars = (*self.worker.config_vars,
                       *(self.autoscaler.provides if self.autoscaler else ())) \
            if self.worker else ()
        for var in (*self.stack.config_vars, *(v for a in self.addons for v in a.provides),
                    *worker_vars):
            seen.setdefault(var.name, var)
        return [self._for_this_app(var) for var in seen.values()]

    def _for_this_app(self, var: ConfigVar) -> ConfigVar:
        """{module} in a registry value stands for this app's Python package."""
        def fill(value: str | None) -> str | None:
            return value.format(module=self.module) if value else value
        return replace(var, example=fill(var.example), heroku_value=fill(var.heroku_value),
                       development_value=fill(var.development_value))

    @property
    def development_values(self) -> dict[str, str]:
        """What .env gets at copy time besides the secret."""
        return {v.name: v.development_value for v in self.config_vars
                if v.development_value is not None}

    def generated_secrets(self, stage: str) -> list[str]:
        """Config vars bin/heroku-setup fills with a fresh random value, per app.

        SANITIZE_SALT keys the sanitize task's `hash` strategy: random and kept on
        staging, so a pseudonym stays the same from one mirror to the next but cannot be
        reversed by hashing guesses, as it could with a salt from the committed rules."""
        secrets = [self.stack.secret_var]
        if self.has_postgres and stage != "production":
            secrets.append("SANITIZE_SALT")
        return secrets

    def config_cell(self, var: ConfigVar, stage: str) -> str:
        """What DEPLOY.md's config var table says one stage holds."""
        values = self.config_values(stage)
        if var.name in values:
            return f"`{values[var.name]}`"
        if var.name in self.generated_secrets(stage):
            return "random, not shown"
        if var.secret and var.source.endswith("add-on"):
            return "set by the add-on"
        return ""

    def config_values(self, stage: str) -> dict[str, str]:
        """Plain (non-secret) config vars the setup script sets on one app."""
        values = {v.name: v.heroku_value for v in self.config_vars if v.heroku_value}
        values["APP_STAGE"] = stage
        if any(a.key == "newrelic" for a in self.addons):
            app = self.production_app if stage == "production" else self.staging_app
            values["NEW_RELIC_APP_NAME"] = app
        return values

    def app_json(self) -> dict[str, Any]:
        """app.json: what review apps and Heroku's app setup read."""
        env: dict[str, Any] = {}
        for var in self.config_vars:
            if var.name == self.stack.secret_var:
                env[var.name] = {"description": var.description, "generator": "secret"}
            elif var.name == "APP_STAGE":
                env[var.name] = {"description": var.description, "value": "review"}
            elif var.heroku_value:
                env[var.name] = {"description": var.description, "value": var.heroku_value}
        scripts = {}
        if self.has_postgres and self.stack.key == "rails":
            scripts["postdeploy"] = "bin/rails db:seed"
        return {
            "name": self.project_name,
            "description": f"{self.project_name}, deployed on Heroku.",
            "stack": "heroku-24",
            "buildpacks": [{"url": self.stack.buildpack}],
            "env": env,
            "addons": [{"plan": a.service_plan} for a in self.addons],
            "formation": {"web": {"quantity": 1, "size": "basic"},
                          **({"worker": {"quantity": self.worker_min, "size": "basic"}}
                             if self.worker else {})},
            "scripts": scripts,
        }


def _for_stack(choices: Mapping[str, Any], answer: Any, stack: Stack, default: str):
    """The answer's entry when it belongs to this stack, else the stack's default: the
    server questions are only asked for rails, and their defaults are rails servers."""
    entry = choices.get(str(answer))
    return entry if entry and stack.key in entry.stacks else choices[default]


def python_module_error(name: Any) -> str:
    name = "" if name is None else str(name)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,39}", name) or keyword.iskeyword(name):
        return (f"Python package must be a lowercase Python name of letters, digits and "
                f"underscores, not starting with a digit; got {name!r}.")
    return ""


def build_plan(answers: Mapping[str, Any]) -> Plan:
    stack = STACKS[answers["stack"]]
    chosen = set(answers.get("addons") or ())
    worker = WORKERS.get(str(answers.get("worker") or "none"))
    if worker and stack.key not in worker.stacks:
        worker = None
    autoscaler = AUTOSCALERS.get(str(answers.get("autoscaler") or "none")) if worker else None
    # The worker's queue lives in an add-on, and Judoscale is one: both join the bootstrap.
    chosen |= {key for key in (worker and worker.addon, autoscaler and autoscaler.addon) if key}
    worker_min = _whole_number(answers.get("worker_min"))
    worker_min = 1 if worker_min is None else worker_min
    worker_max = _whole_number(answers.get("worker_max")) if autoscaler else None
    worker_max = max(worker_min, 1) if worker_max is None else worker_max
    return Plan(
        stack=stack,
        web_server=_for_stack(WEB_SERVERS, answers.get("web_server"), stack,
                              stack.default_web_server),
        dev_server=_for_stack(DEV_SERVERS, answers.get("dev_server"), stack,
                              stack.default_dev_server),
        # Registry order, not answer order: the same answers always give the same files.
        addons=tuple(a for key, a in {**ADDONS, **IMPLIED_ADDONS}.items() if key in chosen),
        project_name=str(answers.get("project_name", "")),
        production_app=str(answers.get("production_app", "")),
        staging_app=str(answers.get("staging_app", "")),
        backup_schedule=str(answers.get("backup_schedule") or ""),
        module=str(answers.get("python_module") or "") if stack.python else "",
        worker=worker,
        autoscaler=autoscaler,
        worker_min=worker_min,
        worker_max=worker_max,
    )


# --- ops scripts
# What the bin/heroku-* scripts need beyond the plan: kept here so a fork that renames a
# task or a command changes one line.

# The stack's sanitize task, run on staging by bin/heroku-mirror-db after a restore.
SANITIZE_COMMANDS = {
    "rails": "bin/rails db:sanitize",
    "django": "python manage.py sanitize",
    "flask": "flask sanitize",
}


def sanitize_command(stack: Any) -> str:
    key = getattr(stack, "key", stack)
    return SANITIZE_COMMANDS[str(key)]


def shell_words(command: Any) -> str:
    """A command line with each word shell-quoted, so a rendered script runs exactly the
    words the registry lists (`bin/rails db:migrate` stays two words)."""
    import shlex

    return shlex.join(shlex.split(str(command)))
