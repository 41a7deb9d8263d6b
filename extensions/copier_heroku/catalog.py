"""The catalog: every stack, server, worker, autoscaler and add-on the template knows.

This is the one file a team fork edits. Change a default plan (`plan="essential-0"`), add
an add-on (a new entry in ADDONS: it is offered by the `addons` question at once), or a
config var, and every rendered file follows: Procfile lines, Gemfile.deploy and
requirements-deploy.txt, app.json, .env.example, the bin/heroku-* scripts and DEPLOY.md.
Plain data only; the shapes are in model.py, the logic in plan.py.
"""

from __future__ import annotations

import re

from .model import (Addon, Autoscaler, ConfigVar, DependencyInclude, DevServer, Package,
                    Stack, WebServer, Worker)

# Heroku's stack in app.json; checked against Heroku's list of supported stacks.
HEROKU_STACK = "heroku-24"

WORKER_LIMIT = 100  # the largest worker_max the template accepts

# The label of "no entry" for the optional choices.
NO_WORKER = "No background worker"
NO_AUTOSCALER = "None, a fixed number of worker dynos"

# --------------------------------------------------------------------------- config vars

RAILS_CONFIG_VARS = (
    ConfigVar(
        "SECRET_KEY_BASE",
        "Signs and encrypts cookies and sessions. One random value per app; production "
        "refuses to boot without it.",
        "generate-with-bin-rails-secret",
        source="bin/heroku-setup (random, one per app)",
        secret=True,
        generated_on=("production", "staging", "review"),
        legacy_names=("SECRET_TOKEN",),
    ),
    ConfigVar(
        "APP_STAGE",
        "Which stage this deploy is: production, staging, review or development. "
        "Guards such as the sanitize task read it, not RAILS_ENV.",
        "development",
        heroku_value="{stage}",
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
        generated_on=("production", "staging", "review"),
        legacy_names=("DJANGO_SECRET_KEY",),
    ),
    ConfigVar(
        "APP_STAGE",
        "Which stage this deploy is: production, staging, review or development. Debug "
        "mode and guards such as the sanitize task read it; unset counts as production.",
        "development",
        heroku_value="{stage}",
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

# --------------------------------------------------------------------------- stacks

# heroku_sanitize reads config/sanitize.yml with it.
SANITIZE_RULES_READER = Package("PyYAML", ">=6")

GEMFILE_INCLUDE = DependencyInclude(
    app_file="Gemfile",
    line='eval_gemfile "Gemfile.deploy"',
    present=re.compile(r"""^\s*#?\s*eval_gemfile[\s(]+["']Gemfile\.deploy["']""", re.M),
    comment="# Gems of the Heroku deploy layer (copier-heroku); see Gemfile.deploy.",
)
REQUIREMENTS_INCLUDE = DependencyInclude(
    app_file="requirements.txt",
    line="-r requirements-deploy.txt",
    present=re.compile(r"^\s*#?\s*(-r|--requirement)[\s=]+requirements-deploy\.txt\s*$", re.M),
    comment="# Packages of the Heroku deploy layer (copier-heroku).",
)

RAILS_FILES = (
    "Gemfile.deploy",
    "config/initializers/secret_key_base.rb",
    "lib/heroku_sanitize.rb",
    "lib/tasks/sanitize.rake",
)
# What every Python stack brings: the packaging files (written once, the app's from then
# on), the sanitize engine, and the module that reads Heroku's environment.
PYTHON_FILES = (
    ".python-version",
    "requirements.txt",
    "requirements-deploy.txt",
    "heroku_sanitize/__init__.py",
    "heroku_sanitize/__main__.py",
    "heroku_sanitize/cli.py",
    "heroku_sanitize/engine.py",
    "{module}/__init__.py",
    "{module}/heroku_env.py",
)

STACKS: dict[str, Stack] = {
    "rails": Stack(
        key="rails",
        label="Ruby on Rails",
        language="ruby",
        process_manager="foreman",
        process_manager_install="gem install foreman",
        secret_var="SECRET_KEY_BASE",
        framework_env_var="RAILS_ENV",
        release="bin/rails db:migrate",
        release_needs_database=True,
        buildpack="heroku/ruby",
        default_web_server="puma",
        default_dev_server="puma",
        sanitize_command="bin/rails db:sanitize",
        dependency_file="Gemfile.deploy",
        dependency=GEMFILE_INCLUDE,
        gitignore="rails",
        config_vars=RAILS_CONFIG_VARS,
        seed="bin/rails db:seed",
        files=RAILS_FILES,
    ),
    "django": Stack(
        key="django",
        label="Django",
        language="python",
        process_manager="honcho",
        process_manager_install="pip install honcho",
        secret_var="SECRET_KEY",
        framework_env_var="DJANGO_ENV",
        release="python manage.py migrate --noinput",
        release_needs_database=False,
        buildpack="heroku/python",
        default_web_server="gunicorn",
        default_dev_server="runserver",
        sanitize_command="python manage.py sanitize",
        dependency_file="requirements-deploy.txt",
        dependency=REQUIREMENTS_INCLUDE,
        gitignore="python",
        config_vars=PYTHON_CONFIG_VARS,
        packages=(Package("Django", ">=4.2,<6"), Package("dj-database-url", ">=2.1"),
                  Package("whitenoise", ">=6.5"), SANITIZE_RULES_READER),
        files=(*PYTHON_FILES,
               "manage.py",
               "{module}/settings.py",
               "{module}/urls.py",
               "{module}/views.py",
               "{module}/wsgi.py",
               "heroku_sanitize/management/__init__.py",
               "heroku_sanitize/management/commands/__init__.py",
               "heroku_sanitize/management/commands/sanitize.py"),
    ),
    "flask": Stack(
        key="flask",
        label="Flask",
        language="python",
        process_manager="honcho",
        process_manager_install="pip install honcho",
        secret_var="SECRET_KEY",
        framework_env_var="FLASK_ENV",
        release="",
        release_needs_database=False,
        buildpack="heroku/python",
        default_web_server="gunicorn",
        default_dev_server="flask",
        sanitize_command="flask sanitize",
        dependency_file="requirements-deploy.txt",
        dependency=REQUIREMENTS_INCLUDE,
        gitignore="python",
        config_vars=(*PYTHON_CONFIG_VARS, ConfigVar(
            "FLASK_APP", "The package whose create_app() the flask command loads, for "
            "`flask sanitize` and your own commands.", "{module}", heroku_value="{module}",
            development_value="{module}")),
        packages=(Package("Flask", ">=3.1"), SANITIZE_RULES_READER),
        files=(*PYTHON_FILES, "heroku_sanitize/flask_command.py"),
    ),
}

# --------------------------------------------------------------------------- servers

WEB_SERVERS: dict[str, WebServer] = {
    "puma": WebServer(
        key="puma",
        label="Puma",
        hint="threads and workers, config/puma.rb",
        stacks=("rails",),
        command={"rails": "bundle exec puma -C config/puma.rb"},
        config_file="config/puma.rb",
        package=Package("puma", ">= 5.0"),
    ),
    "unicorn": WebServer(
        key="unicorn",
        label="Unicorn",
        hint="processes only, config/unicorn.rb",
        stacks=("rails",),
        command={"rails": "bundle exec unicorn -p $PORT -c ./config/unicorn.rb"},
        config_file="config/unicorn.rb",
        package=Package("unicorn", ">= 5.0"),
    ),
    "gunicorn": WebServer(
        key="gunicorn",
        label="Gunicorn",
        hint="gunicorn.conf.py",
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
        hint="bundle exec thin start",
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
LAYER_FILES = (
    ".copier-answers.yml",
    ".env",
    ".env.example",
    ".gitignore",
    "DEPLOY.md",
    "Procfile",
    "Procfile.dev",
    "app.json",
    "bin/dev",
    "bin/heroku-addons",
    "bin/heroku-config-pull",
    "bin/heroku-deploy",
    "bin/heroku-setup",
    "bin/lib/heroku.bash",
    "config/sanitize.yml",
)
