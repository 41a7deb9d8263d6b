"""The frameworks: stacks and their web and development servers, with the config vars each
stack reads and the files of the layer each brings.

These change when a framework does (a Rails or Python packaging release). A team fork
usually edits catalog.py instead: the services (add-ons, workers, autoscalers) and their
plans. Plain data only; the shapes are in model.py, the logic in plan.py.
"""

from __future__ import annotations

import re

from .model import (
    ConfigVar,
    DependencyInclude,
    DevServer,
    FrameworkVersion,
    Package,
    PackageManager,
    Stack,
    WebServer,
)

# app.json names no Heroku stack (the operating system image): a new app gets Heroku's
# current default, and a name written here would age into a deprecated one.

# --------------------------------------------------------------------------- Rails versions

# What `rails new` of each release line writes that the layer must meet (read from
# railties' app generator templates, railties/lib/rails/generators/rails/app/templates).
# A Rails newer than the last entry is taken as the last entry.
RAILS_VERSIONS = (
    FrameworkVersion("6.1", "Rails 6.1"),
    FrameworkVersion("7.0", "Rails 7.0"),
    FrameworkVersion("7.1", "Rails 7.1", logs_to_stdout_and_serves_files=True),
    FrameworkVersion("7.2", "Rails 7.2", logs_to_stdout_and_serves_files=True),
    FrameworkVersion("8.0", "Rails 8.0", logs_to_stdout_and_serves_files=True,
                     solid_databases=True, writes_bin_dev=True),
    FrameworkVersion("8.1", "Rails 8.1", hint="or later", logs_to_stdout_and_serves_files=True,
                     solid_databases=True, writes_bin_dev=True),
)

# The Python of a new app: `.python-version` (major.minor only, as Heroku's buildpack
# recommends, so every build gets the newest patch release) and `requires-python`.
# The buildpack builds 3.10 to 3.14 (lib/python_version.sh).
PYTHON_VERSION = "3.12"

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
    # Rails 7.1 and later log to stdout and serve public/ whatever these say.
    ConfigVar("RAILS_LOG_TO_STDOUT", "Send the Rails log to stdout, where Heroku's log "
              "router reads it.", "enabled", heroku_value="enabled",
              obsolete_when="logs_to_stdout_and_serves_files"),
    ConfigVar("RAILS_SERVE_STATIC_FILES", "Let Rails serve public/ (no web server in "
              "front of it on Heroku).", "enabled", heroku_value="enabled",
              obsolete_when="logs_to_stdout_and_serves_files"),
    ConfigVar("WEB_CONCURRENCY", "Web server worker processes per dyno.", "2",
              heroku_value="2", local=False),
    # 3: Heroku's advice for Puma, and Rails's own default since 7.2.
    ConfigVar("RAILS_MAX_THREADS", "Threads per web server process; also the size of the "
              "database connection pool.", "3", heroku_value="3"),
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
    # Not set by bin/heroku-setup: Heroku's Python buildpack sets it at dyno boot from the
    # dyno's memory and CPUs (vendor/WEB_CONCURRENCY.sh) unless the app sets it.
    ConfigVar("WEB_CONCURRENCY", "Gunicorn worker processes per dyno. Heroku's Python "
              "buildpack picks it from the dyno size at boot (2 on Basic and Standard-1X); "
              "set it on the app only to override that.", "2",
              source="Heroku's Python buildpack, from the dyno size", local=False),
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

# --------------------------------------------------------------------------- Python packaging

# How a Python app declares its packages. Heroku's Python buildpack refuses a build with
# more than one of the marker files (lib/package_manager.sh), so the layer writes the files
# of the app's own package manager only, and never a second marker. uv is Heroku's
# recommendation; pip stays a choice; Pipenv is recognised in an app that uses it.
PACKAGE_MANAGERS: dict[str, PackageManager] = {
    "uv": PackageManager(
        key="uv",
        label="uv",
        hint="pyproject.toml and uv.lock; Heroku's recommendation",
        marker="uv.lock",
        files=("pyproject.toml",),
        project_file="pyproject.toml",
        lock_file="uv.lock",
        lock_entry='name = "{name}"',
        add="uv add {packages}",
        add_lock_only="uv add --no-sync {packages}",
        lock="uv lock",
        remove="uv remove {packages}",
        build_install="uv sync --locked --no-default-groups",
        install="uv sync",
        run="uv run",
        dev_tool_install="uv add --dev honcho",
        docs="https://docs.astral.sh/uv/getting-started/installation/",
    ),
    "poetry": PackageManager(
        key="poetry",
        label="Poetry",
        hint="pyproject.toml and poetry.lock",
        marker="poetry.lock",
        files=("pyproject.toml",),
        project_file="pyproject.toml",
        lock_file="poetry.lock",
        lock_entry='name = "{name}"',
        add="poetry add {packages}",
        add_lock_only="poetry add --lock {packages}",
        lock="poetry lock",
        remove="poetry remove {packages}",
        build_install="poetry sync --only main",
        install="poetry install",
        run="poetry run",
        dev_tool_install="poetry add --group dev honcho",
        docs="https://python-poetry.org/docs/#installation",
        installs_the_project=True,
    ),
    "pip": PackageManager(
        key="pip",
        label="pip",
        hint="requirements.txt and requirements-deploy.txt",
        marker="requirements.txt",
        files=("requirements.txt", "requirements-deploy.txt"),
        layer_file="requirements-deploy.txt",
        include=REQUIREMENTS_INCLUDE,
        build_install="pip install -r requirements.txt",
        install="python3 -m venv .venv && .venv/bin/pip install -r requirements.txt",
        dev_tool_install=".venv/bin/pip install honcho",
        docs="https://pip.pypa.io/en/stable/installation/",
    ),
    "pipenv": PackageManager(
        key="pipenv",
        label="Pipenv",
        hint="Pipfile and Pipfile.lock, for an app that uses it already",
        marker="Pipfile.lock",
        project_file="Pipfile",
        lock_file="Pipfile.lock",
        lock_entry='"{name}": {{',
        add="pipenv install {packages}",
        lock="pipenv lock",
        remove="pipenv uninstall {packages}",
        build_install="pipenv install --deploy",
        install="pipenv install --dev",
        run="pipenv run",
        dev_tool_install="pipenv install --dev honcho",
        docs="https://pipenv.pypa.io/en/latest/installation.html",
        offered=False,
    ),
}
DEFAULT_PACKAGE_MANAGER = "uv"

RAILS_FILES = (
    "Gemfile.deploy",
    "config/initializers/secret_key_base.rb",
    "lib/heroku_sanitize.rb",
    "lib/tasks/sanitize.rake",
)
# What every Python stack brings: the Python version (written once, the app's from then
# on), the sanitize engine, and the module that reads Heroku's environment. The packaging
# files come with the package manager.
PYTHON_FILES = (
    ".python-version",
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
        versions=RAILS_VERSIONS,
        version_package="railties",
        database_config="config/database.yml",
    ),
    "django": Stack(
        key="django",
        label="Django",
        language="python",
        process_manager="honcho",
        process_manager_install="",
        secret_var="SECRET_KEY",
        framework_env_var="DJANGO_ENV",
        release="python manage.py migrate --noinput",
        release_needs_database=False,
        buildpack="heroku/python",
        default_web_server="gunicorn",
        default_dev_server="runserver",
        sanitize_command="python manage.py sanitize",
        dependency_file="",
        dependency=None,
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
        process_manager_install="",
        secret_var="SECRET_KEY",
        framework_env_var="FLASK_ENV",
        release="",
        release_needs_database=False,
        buildpack="heroku/python",
        default_web_server="gunicorn",
        default_dev_server="flask",
        sanitize_command="flask sanitize",
        dependency_file="",
        dependency=None,
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

# The layer's lines at the end of config/puma.rb, which `rails new` writes and the app
# tunes: Heroku's advice for Puma ("Deploying Rails Applications with the Puma Web
# Server", and its ruby-getting-started app). Threads stay on the app's own `threads`
# line, which reads RAILS_MAX_THREADS on every Rails from 6.1. No hook Puma 7 renamed
# (on_worker_boot and the like): since Rails 6.1 each forked worker opens its own
# database connections, so only `before_fork`, whose name Puma kept, is used.
PUMA_ON_HEROKU = (
    "# Heroku: WEB_CONCURRENCY processes (2 unless set; none in development), each with the",
    "# threads of the `threads` line above (RAILS_MAX_THREADS), the app loaded once before",
    "# forking.",
    'heroku_workers = Integer(ENV.fetch("WEB_CONCURRENCY") { '
    'ENV.fetch("RAILS_ENV", "development") == "development" ? 0 : 2 })',
    "if heroku_workers.positive?",
    "  workers heroku_workers",
    "  preload_app!",
    "  # The master lets go of the connections it opened while loading the app.",
    "  before_fork { ActiveRecord::Base.connection_pool.disconnect! "
    "if defined?(ActiveRecord::Base) }",
    "end",
    "# Heroku's router keeps connections alive for up to 90 s. Puma 7 serves them fairly and",
    "# reads PUMA_PERSISTENT_TIMEOUT (95, set by the Ruby buildpack) by itself; older Pumas",
    "# are told: a longer idle timeout than the router's, and no keep-alive.",
    'if Gem::Version.new(Puma::Const::PUMA_VERSION) < Gem::Version.new("7")',
    '  persistent_timeout Integer(ENV.fetch("PUMA_PERSISTENT_TIMEOUT", 95))',
    "  enable_keep_alives false if respond_to?(:enable_keep_alives)",
    "end",
)

WEB_SERVERS: dict[str, WebServer] = {
    "puma": WebServer(
        key="puma",
        label="Puma",
        hint="threads and workers, config/puma.rb",
        stacks=("rails",),
        command={"rails": "bundle exec puma -C config/puma.rb"},
        config_file="config/puma.rb",
        # Heroku's advice: Puma 7.0.3 or later (the Ruby buildpack refuses 7.0.0 to 7.0.2,
        # whose PUMA_PERSISTENT_TIMEOUT is broken). An app's own puma line wins.
        package=Package("puma", ">= 7.0.3"),
        config_lines=PUMA_ON_HEROKU,
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
