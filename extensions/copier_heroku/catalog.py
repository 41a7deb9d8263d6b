"""The catalog: the services an app can have on Heroku (add-ons, workers, autoscalers), with
their default plans, the config vars they provide and the packages the app needs for them.

This is the file a team fork edits. Change a default plan (`plan="essential-0"`), add an
add-on (a new entry in ADDONS: the `addons` question offers it at once), or a config var,
and every rendered file follows: Procfile lines, Gemfile.deploy and requirements-deploy.txt,
app.json, .env.example, the bin/heroku-* scripts and DEPLOY.md. The frameworks (stacks and
servers) are in stacks.py. Plain data only; the shapes are in model.py, the logic in plan.py.
"""

from __future__ import annotations

from .model import Addon, Autoscaler, ConfigVar, Package, Worker
from .stacks import (
    DEFAULT_PACKAGE_MANAGER,
    DEV_SERVERS,
    LAYER_FILES,
    PACKAGE_MANAGERS,
    PYTHON_VERSION,
    STACKS,
    WEB_SERVERS,
)

__all__ = ["ADDONS", "AUTOSCALERS", "DEFAULT_PACKAGE_MANAGER", "DEV_SERVERS", "IMPLIED_ADDONS",
           "LAYER_FILES", "NO_AUTOSCALER", "NO_WORKER", "PACKAGE_MANAGERS", "PYTHON_VERSION",
           "STACKS", "WEB_SERVERS", "WORKER_LIMIT", "WORKERS"]

WORKER_LIMIT = 100  # the largest worker_max the template accepts

# The label of "no entry" for the optional choices.
NO_WORKER = "No background worker"
NO_AUTOSCALER = "None, a fixed number of worker dynos"

# --------------------------------------------------------------------------- add-ons

ADDONS: dict[str, Addon] = {
    "heroku-postgresql": Addon(
        key="heroku-postgresql",
        label="Heroku Postgres",
        hint="DATABASE_URL, release-phase migrations",
        plan="essential-0",
        provides=(
            ConfigVar("DATABASE_URL", "PostgreSQL connection URL. Leave it unset in "
                      "development, where the app uses its local database settings.",
                      "postgres://USER:PASSWORD@localhost:5432/DATABASE",
                      source="heroku-postgresql add-on", local=False),
            ConfigVar("SANITIZE_SALT", "Keys the sanitize task's hash strategy, on staging "
                      "only; it wins over the salt in config/sanitize.yml.",
                      "any-long-random-text", source="bin/heroku-setup (random, staging)",
                      secret=True, local=False, generated_on=("staging",)),
        ),
        packages={"rails": (Package("pg", ">= 1.1"),),
                  "django": (Package("psycopg[binary]", ">=3.1"),),
                  "flask": (Package("psycopg[binary]", ">=3.1"),)},
        docs="https://devcenter.heroku.com/articles/heroku-postgresql",
        database=True,
        wait=True,
        # https://devcenter.heroku.com/articles/heroku-postgres-plans: mini and basic (and
        # the hobby plans before them) were retired for the Essential tier.
        legacy_plans=("mini", "basic", "hobby-dev", "hobby-basic"),
        # https://devcenter.heroku.com/articles/upgrading-heroku-postgres-databases:
        # "PGBackups don't work with Shield databases".
        no_backup_plans=("shield-",),
        # https://devcenter.heroku.com/articles/pgbackups: "Use PGBackups only for
        # moderately loaded databases up to 20 GB."
        backup_limit_gb=20,
        files=("bin/heroku-mirror-db",),
    ),
    "newrelic": Addon(
        key="newrelic",
        label="New Relic APM",
        hint="its agent in the web process",
        plan="wayne",
        provides=(
            ConfigVar("NEW_RELIC_LICENSE_KEY", "New Relic licence key; the agent stays "
                      "off without it.", "your-new-relic-license-key",
                      source="newrelic add-on", secret=True, local=False),
            ConfigVar("NEW_RELIC_APP_NAME", "Name the app reports under in New Relic, "
                      "one per stage.", "APP_NAME", heroku_value="{app}",
                      source="bin/heroku-setup"),
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
        hint="REDIS_URL",
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
        worker_note="Heroku Redis speaks TLS (`rediss://`) with a self-signed certificate: "
                    "the worker's configuration encrypts the connection without verifying "
                    "that certificate, as Heroku documents.",
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
IMPLIED_ADDONS: dict[str, Addon] = {
    "judoscale": Addon(
        key="judoscale",
        label="Judoscale autoscaler",
        plan="",
        provides=(
            ConfigVar("JUDOSCALE_URL", "Where the Judoscale adapter reports queue times; "
                      "the adapter stays off without it, as in development.",
                      "https://adapter.judoscale.com/api/TOKEN", source="judoscale add-on",
                      secret=True, local=False),
        ),
        docs="https://devcenter.heroku.com/articles/judoscale",
    ),
}

# --------------------------------------------------------------------------- workers

RAILS_WORKER_FILES = ("app/jobs/smoke_job.rb",)
PYTHON_WORKER_FILES = ("{module}/tasks.py", "{module}/worker.py")

WORKERS: dict[str, Worker] = {
    "sidekiq": Worker(
        key="sidekiq",
        label="Sidekiq",
        hint="rails, Heroku Redis",
        stacks=("rails",),
        # Threads equal to the database pool (RAILS_MAX_THREADS), so no job waits for a
        # connection.
        command="bundle exec sidekiq -c ${{RAILS_MAX_THREADS:-5}}",
        addon="heroku-redis",
        packages=(Package("sidekiq", ">= 6.4"),),
        queue="default",
        smoke='bin/rails runner "SmokeJob.perform_later"',
        files=(*RAILS_WORKER_FILES, "config/initializers/sidekiq.rb"),
        docs="https://github.com/sidekiq/sidekiq/wiki/Heroku",
    ),
    "good_job": Worker(
        key="good_job",
        label="GoodJob",
        hint="rails, Heroku Postgres",
        stacks=("rails",),
        command="bundle exec good_job start",
        addon="heroku-postgresql",
        packages=(Package("good_job", ">= 3.0"),),
        queue="default",
        smoke='bin/rails runner "SmokeJob.perform_later"',
        files=(*RAILS_WORKER_FILES, "config/initializers/good_job.rb"),
        docs="https://github.com/bensheldon/good_job",
    ),
    "celery": Worker(
        key="celery",
        label="Celery",
        hint="django and flask, Heroku Redis",
        stacks=("django", "flask"),
        command="celery --app {module}.worker worker --loglevel INFO",
        addon="heroku-redis",
        packages=(Package("celery[redis]", ">=5.3"),),
        queue="celery",
        smoke='python -c "from {module}.tasks import smoke; smoke.delay()"',
        files=PYTHON_WORKER_FILES,
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
        hint="django and flask, Heroku Redis",
        stacks=("django", "flask"),
        command="rq worker --config {module}.worker --with-scheduler default",
        addon="heroku-redis",
        packages=(Package("rq", ">=1.16"),),
        queue="default",
        smoke='python -c "from {module}.tasks import enqueue_smoke; enqueue_smoke()"',
        files=PYTHON_WORKER_FILES,
        docs="https://python-rq.org/docs/workers/",
    ),
}

AUTOSCALERS: dict[str, Autoscaler] = {
    "hirefire": Autoscaler(
        key="hirefire",
        label="HireFire",
        hint="hirefire-resource, HIREFIRE_TOKEN",
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
        files={"ruby": ("config/initializers/hirefire.rb",),
               "python": ("{module}/hirefire.py",)},
    ),
    "judoscale": Autoscaler(
        key="judoscale",
        label="Judoscale",
        hint="its add-on sets JUDOSCALE_URL",
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

# Every plan's files, whatever the answers.
