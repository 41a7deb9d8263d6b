"""The frameworks: stacks and their web and development servers, with the config vars each
stack reads and the files of the layer each brings.

These change when a framework does (a Rails or Python packaging release). A team fork
usually edits catalog.py instead: the services (add-ons, workers, autoscalers) and their
plans. Plain data only; the shapes are in model.py, the logic in plan.py.
"""

from __future__ import annotations

import re

from .model import ConfigVar, DependencyInclude, DevServer, Package, Stack, WebServer

# Heroku's stack in app.json; checked against Heroku's list of supported stacks.
HEROKU_STACK = "heroku-24"

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

# The layer's block at the end of every app's .gitignore: local settings and secrets stay on
# this machine. Committed: .env.example (placeholders only) and .env*.erb templates (Rails
# 7.1+); `!` re-includes them after a framework's own `/.env*` (Rails 8).
ENV_IGNORES = (".env", ".env.*", "!.env.example", "!.env*.erb")

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
        # Keys that decrypt credentials: Heroku gets RAILS_MASTER_KEY, if anything.
        ignored=(*ENV_IGNORES, "/config/master.key", "/config/credentials/*.key"),
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
        ignored=ENV_IGNORES,
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
        ignored=ENV_IGNORES,
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


LAYER_FILES = (
    ".copier-answers.heroku.yml",
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
    # The one catalog query both sanitize engines load (tests/test_sanitize_golden.py).
    "config/sanitize_catalog.sql",
)
