"""The shapes of the catalog's entries: plain frozen dataclasses, no data and no logic.

catalog.py fills them in; plan.py combines the chosen ones. A field that says how an entry
behaves (a flag) lives here, so the plan never has to know an entry by its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

STAGES = ("production", "staging", "review")


@dataclass(frozen=True)
class ConfigVar:
    """One environment variable the generated app reads.

    Placeholders in `example`, `heroku_value` and `development_value`: {module} is the
    app's Python package, {stage} the app's stage (APP_STAGE), {app} the app's name."""

    name: str
    description: str
    # What .env.example shows: a placeholder, never a real secret.
    example: str
    # The value bin/heroku-setup sets on Heroku; None when something else sets it (an
    # add-on, Heroku itself, or the secret generator below).
    heroku_value: str | None = None
    # Who provides the value on Heroku, shown in DEPLOY.md's table.
    source: str = "bin/heroku-setup"
    secret: bool = False
    # False for variables that must stay unset in development (.env.example comments
    # them out): Heroku's PORT, the production DATABASE_URL, the framework environment.
    local: bool = True
    # The value .env gets at copy time; None leaves the variable out of .env.
    development_value: str | None = None
    # Stages on which a fresh random value is generated once per app, never shown and
    # never replaced (bin/heroku-setup; app.json's "generator": "secret" for review).
    generated_on: tuple[str, ...] = ()
    # Older names an app may hold the same secret under (Rails' SECRET_TOKEN): when an app
    # has one of them and not this name, bin/heroku-setup generates this secret only with
    # --confirm <app>, since a new value would rotate the app's secret.
    legacy_names: tuple[str, ...] = ()
    # A flag of the framework version (FrameworkVersion) under which the variable does
    # nothing: the plan leaves it out for those versions.
    obsolete_when: str = ""


@dataclass(frozen=True)
class FrameworkVersion:
    """One release line of a stack's framework (Rails 7.2): the flags that say what the
    layer does differently for it. The plan reads the flags, never the number."""

    key: str  # "7.2": the answer, and what Gemfile.lock's locked version is cut to
    label: str
    # Rails 7.1+: the generated production.rb logs to stdout and serves public/ by itself,
    # so RAILS_LOG_TO_STDOUT and RAILS_SERVE_STATIC_FILES do nothing.
    logs_to_stdout_and_serves_files: bool = False
    # Rails 8.0+: `rails new` declares cache, queue and cable databases next to the
    # primary one in production (Solid Cache, Solid Queue, Solid Cable).
    solid_databases: bool = False
    # Rails 8.0+: `rails new` writes a bin/dev of its own that runs only bin/rails server.
    writes_bin_dev: bool = False
    hint: str = ""  # shown after the label in the prompt

    @property
    def number(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.key.split("."))


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
    plan: str  # default plan, "" for Heroku's default; forks change it in the catalog
    provides: tuple[ConfigVar, ...] = ()
    # Per stack key: the gems or packages the app needs to use it.
    packages: Mapping[str, tuple[Package, ...]] = field(default_factory=dict)
    # Per stack key, a command the web process runs under (New Relic's Python agent).
    web_wrapper: Mapping[str, str] = field(default_factory=dict)
    docs: str = ""
    # The app's database: release-phase migrations, backups, the mirror and its files.
    database: bool = False
    # `addons:create --wait`: later steps (the backup schedule) need it provisioned.
    wait: bool = False
    # For the database: plans Heroku no longer provisions, so bin/heroku-mirror-db cannot
    # make a second database on them and restores in place instead (maintenance mode).
    legacy_plans: tuple[str, ...] = ()
    # Plan name prefixes PGBackups does not serve: the mirror refuses them.
    no_backup_plans: tuple[str, ...] = ()
    # The largest database, in GB, that Heroku's logical backups handle.
    backup_limit_gb: int = 0
    # Files of the layer this add-on brings ({module}: the Python package).
    files: tuple[str, ...] = ()
    # What DEPLOY.md says about it when it holds the worker's queue.
    worker_note: str = ""
    hint: str = ""  # shown after the label in the prompt

    @property
    def service_plan(self) -> str:
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
    hint: str = ""  # shown after the label in the prompt
    # When the framework writes config_file too (Rails writes config/puma.rb): the
    # layer's lines, kept in a marked block at the end of the app's file (owned_lines.py).
    # Empty: the layer owns config_file whole.
    config_lines: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.config_file,)


@dataclass(frozen=True)
class DevServer:
    key: str
    label: str
    stacks: tuple[str, ...]
    command: str
    package: Package | None = None
    hint: str = ""  # shown after the label in the prompt


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
    files: tuple[str, ...] = ()
    config_vars: tuple[ConfigVar, ...] = ()
    docs: str = ""
    # Procfile.dev's worker line, when it differs from Procfile's.
    dev_command: str = ""
    hint: str = ""  # shown after the label in the prompt

    @property
    def development_command(self) -> str:
        return self.dev_command or self.command


@dataclass(frozen=True)
class Autoscaler:
    """A service that scales the worker between worker_min and worker_max dynos."""

    key: str
    label: str
    # Per worker key: what the app needs so the service can read the queue.
    packages: Mapping[str, tuple[Package, ...]]
    provides: tuple[ConfigVar, ...] = ()
    addon: str = ""  # an add-on to create on both apps, "" for none
    # Where the minimum and maximum are set: the service reads them from its dashboard.
    dashboard: str = ""
    # One sentence per step, {app}, {min}, {max}, {queue} filled in per app.
    steps: tuple[str, ...] = ()
    docs: str = ""
    # Per language of the stack: the files of the layer it brings.
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hint: str = ""  # shown after the label in the prompt


@dataclass(frozen=True)
class DependencyInclude:
    """How the layer's dependency file is pulled into the app's own: one line, added once
    by a Copier task, commented out counts as present (the app's decision)."""

    app_file: str
    line: str
    present: re.Pattern
    comment: str


@dataclass(frozen=True)
class PackageManager:
    """How a Python app declares and locks its packages, and what Heroku's Python buildpack
    reads: exactly one of the buildpack's package-manager files (`marker`) in the app.

    Placeholders: {packages} is the layer's requirements, each shell-quoted."""

    key: str
    label: str
    # The file that tells the buildpack (and the layer) which package manager an app uses.
    marker: str
    # The files of the layer for this package manager: written once into a folder that
    # has none, the app's from then on; plus the layer's own dependency file for pip.
    files: tuple[str, ...] = ()
    # pip: the layer's own file of packages, and the line of the app's requirements.txt
    # that pulls it in.
    layer_file: str = ""
    include: DependencyInclude | None = None
    # uv and Poetry: the app's project file, and the lock the buildpack installs from.
    project_file: str = ""
    lock_file: str = ""
    # How a package's entry starts in the lock file ({name}: its normalized name).
    lock_entry: str = ""
    # The commands that put the layer's packages in the lock: `add` for packages the
    # project file does not declare (what a person runs), `add_lock_only` the same without
    # installing anything (what the copy runs; "" where the copy never runs the tool), and
    # `lock` when the project file declares them all but the lock lags.
    add: str = ""
    add_lock_only: str = ""
    lock: str = ""
    remove: str = ""  # what a person runs to drop a package the layer no longer needs
    # What Heroku's buildpack runs (lib/uv.sh, lib/poetry.sh, lib/pip.sh): shown in
    # DEPLOY.md, and how the tests install an app.
    build_install: str = ""
    # What a developer runs once to get the app's packages locally.
    install: str = ""
    # Runs a command in the app's virtual environment without activating it ("" for pip:
    # bin/dev puts .venv/bin first on PATH itself).
    run: str = ""
    # Installs honcho, the development process manager, in the app's environment only.
    dev_tool_install: str = ""
    # Where to get the tool itself.
    docs: str = ""
    # Installs the project itself unless told not to (Poetry's package mode): the project
    # then needs a package of its name, or `package-mode = false`.
    installs_the_project: bool = False
    # Offered for a folder without any package-manager file; False: only recognised in an
    # app that already uses it (Pipenv).
    offered: bool = True
    hint: str = ""  # shown after the label in the prompt


@dataclass(frozen=True)
class Stack:
    key: str
    label: str
    language: str  # "ruby" or "python": the files and tools a stack shares with others
    process_manager: str  # runs Procfile.dev in development
    process_manager_install: str
    secret_var: str
    framework_env_var: str
    release: str  # release-phase command, "" for none
    # True when the release phase only makes sense with a database add-on.
    release_needs_database: bool
    buildpack: str
    default_web_server: str
    default_dev_server: str
    # The stack's sanitize task, run on staging by bin/heroku-mirror-db after a restore.
    sanitize_command: str
    # The layer's dependency file, and how the app's own file pulls it in; Python stacks
    # take theirs from the package manager.
    dependency_file: str
    dependency: DependencyInclude | None
    # includes/gitignore/<this>.gitignore: the ignores of the framework's own generator,
    # for an app that has no .gitignore yet.
    gitignore: str
    config_vars: tuple[ConfigVar, ...] = ()
    # What the layer asks Bundler or pip for, whatever the add-ons.
    packages: tuple[Package, ...] = ()
    # app.json's postdeploy for review apps, run when the app has a database.
    seed: str = ""
    # Files of the layer this stack brings ({module}: the Python package).
    files: tuple[str, ...] = ()
    # What the layer's block at the end of .gitignore ignores (owned_lines.py).
    ignored: tuple[str, ...] = ()
    hint: str = ""  # shown after the label in the prompt
    # The framework's release lines, oldest first, and the gem (or package) whose locked
    # version says which one an app is on; empty for a stack that has no such question.
    versions: tuple[FrameworkVersion, ...] = ()
    version_package: str = ""
    # The app's database configuration, when the framework keeps one the layer edits
    # (Rails: config/database.yml, whose production databases must all read DATABASE_URL).
    database_config: str = ""

    @property
    def default_version(self) -> FrameworkVersion | None:
        """The newest release line: what a new app is made with."""
        return self.versions[-1] if self.versions else None

    def version(self, key: object) -> FrameworkVersion | None:
        found = next((v for v in self.versions if v.key == str(key)), None)
        return found or self.default_version
