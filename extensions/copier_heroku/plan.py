"""The plan: everything after the questions decides from it, never from a raw answer.

build_plan() turns the answers into a Plan once; templates see it as `deploy`, and so do
copier.yml's `_exclude`, `_skip_if_exists`, tasks and the `when:` of later questions.
It knows which catalog entries are chosen (also those another answer brings: GoodJob brings
Heroku Postgres), which files the layer writes, and every value the files need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Mapping

from . import owned_lines, python_packages
from .answers import whole_number
from .catalog import (
    ADDONS,
    AUTOSCALERS,
    DEFAULT_PACKAGE_MANAGER,
    DEV_SERVERS,
    IMPLIED_ADDONS,
    LAYER_FILES,
    PACKAGE_MANAGERS,
    PYTHON_VERSION,
    STACKS,
    WEB_SERVERS,
    WORKERS,
)
from .model import (
    Addon,
    Autoscaler,
    ConfigVar,
    DependencyInclude,
    DevServer,
    FrameworkVersion,
    Package,
    PackageManager,
    Stack,
    WebServer,
    Worker,
)

# The packaging files some package manager writes (pyproject.toml, requirements.txt ...):
# Plan.unused names those the plan's own does not.
PACKAGING_FILES = frozenset(f for pm in PACKAGE_MANAGERS.values() for f in pm.files)


@dataclass(frozen=True)
class Plan:
    """Everything the rendered files need, derived once from the answers."""

    stack: Stack
    web_server: WebServer
    dev_server: DevServer
    addons: tuple[Addon, ...]
    project_name: str = ""
    app_slug: str = ""  # also the pipeline's name
    production_app: str = ""
    staging_app: str = ""
    region: str = "us"
    team: str = ""
    pipeline: bool = True
    review_apps: bool = False
    backup_schedule: str = ""
    module: str = ""  # the Python package of a django or flask app
    worker: Worker | None = None
    autoscaler: Autoscaler | None = None
    worker_min: int = 1  # dynos bin/heroku-setup scales the worker to at least
    worker_max: int = 1  # the autoscaler's ceiling; equal to worker_min without one
    # The framework's release line (Rails 7.2), None for a stack without versions.
    version: FrameworkVersion | None = None
    # Python stacks: how the app declares its packages (None for Ruby).
    package_manager: PackageManager | None = None
    python_version: str = PYTHON_VERSION

    # ---------------------------------------------------------------- flags

    @property
    def ruby(self) -> bool:
        return self.stack.language == "ruby"

    @property
    def python(self) -> bool:
        return self.stack.language == "python"

    @property
    def has_worker(self) -> bool:
        return self.worker is not None

    @property
    def autoscaled(self) -> bool:
        return self.autoscaler is not None

    @property
    def has_postgres(self) -> bool:
        return any(a.database for a in self.addons)

    @property
    def database_addon(self) -> Addon | None:
        """The add-on that holds the app's database (the mirror's plans and limits)."""
        return next((a for a in self.addons if a.database), None)

    @property
    def legacy_secret_names(self) -> dict[str, tuple[str, ...]]:
        """Per secret bin/heroku-setup generates, the older names an app may hold it
        under already (generating it then would rotate the app's secret)."""
        return {v.name: v.legacy_names for v in self.config_vars
                if v.generated_on and v.legacy_names}

    def version_is(self, flag: str) -> bool:
        """A flag of the framework version (FrameworkVersion), False without one."""
        return bool(self.version and getattr(self.version, flag))

    def uses(self, key: str) -> bool:
        """Whether the stack, web server, worker, autoscaler or an add-on (also one that
        another answer brings) is the catalog entry `key`."""
        return key in self.chosen

    @property
    def chosen(self) -> frozenset[str]:
        entries = (self.stack, self.web_server, self.worker, self.autoscaler, *self.addons)
        return frozenset(e.key for e in entries if e is not None)

    @property
    def unused(self) -> frozenset[str]:
        """What copier.yml's `_exclude` reads: every catalog entry this plan does not use,
        the languages of the other stacks, the packaging files its package manager does not
        write (pyproject.toml, requirements.txt ...), and `database` and `worker` when it
        has none.

        One set, read as `'sidekiq' in deploy.unused | default([])`: Copier also renders
        the patterns with an older release's plan (the old copy of an update), which may
        not know a name; unknown then means excluded nowhere, as that release did."""
        known = {*STACKS, *WEB_SERVERS, *WORKERS, *AUTOSCALERS, *ADDONS, *IMPLIED_ADDONS,
                 *PACKAGE_MANAGERS, *(s.language for s in STACKS.values()),
                 *PACKAGING_FILES}
        used = {*self.chosen, self.stack.language,
                *((self.package_manager.key, *self.package_manager.files)
                  if self.package_manager else ())}
        flags = {"database": self.has_postgres, "worker": self.has_worker}
        return frozenset((known - used) | {name for name, on in flags.items() if not on})

    def packaging_writes(self, path: str) -> bool:
        """Whether the package manager's files include `path` (pyproject.toml for uv and
        Poetry, requirements*.txt for pip): copier.yml's _exclude asks this."""
        return bool(self.package_manager) and path in self.package_manager.files

    # ---------------------------------------------------------------- questions

    @property
    def web_server_choices(self) -> list[str]:
        return [k for k, s in WEB_SERVERS.items() if self.stack.key in s.stacks]

    @property
    def dev_server_choices(self) -> list[str]:
        return [k for k, s in DEV_SERVERS.items() if self.stack.key in s.stacks]

    # ---------------------------------------------------------------- files

    def files(self) -> list[str]:
        """Every file the layer writes for this plan, as paths in the app."""
        paths = [*LAYER_FILES, *self.stack.files, *self.web_server.files]
        if self.package_manager:
            paths.extend(self.package_manager.files)
        for addon in self.addons:
            paths.extend(addon.files)
        if self.worker:
            paths.extend(self.worker.files)
        if self.autoscaler:
            paths.extend(self.autoscaler.files.get(self.stack.language, ()))
        return sorted({path.format(module=self.module) for path in paths})

    @property
    def gitignore_block(self) -> str:
        """The layer's block at the end of .gitignore (owned_lines.py)."""
        return owned_lines.block(self.stack.ignored)

    @property
    def owned_blocks(self) -> dict[str, tuple[str, ...]]:
        """Files the app (or its framework) also writes, with the lines the layer keeps in a
        marked block at the end of each: path -> lines (owned_lines.py)."""
        blocks = {".gitignore": tuple(self.stack.ignored),
                  "Procfile.dev": tuple(f"{name}: {command}"
                                        for name, command in self.procfile_dev)}
        if self.web_server.config_lines:
            blocks[self.web_server.config_file] = self.web_server.config_lines
        return blocks

    def block(self, path: str) -> str:
        """The marked block the layer keeps in one of its owned_blocks files."""
        return owned_lines.block(self.owned_blocks[path])

    @property
    def database_config(self) -> str:
        """The framework's database configuration, when its production databases must be
        pointed at the add-on's DATABASE_URL ("" when there is nothing to edit)."""
        return self.stack.database_config if self.has_postgres else ""

    # ---------------------------------------------------------------- processes

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

    @property
    def queue_addon(self) -> Addon | None:
        """The add-on that holds the worker's queue."""
        if not self.worker:
            return None
        return next(a for a in self.addons if a.key == self.worker.addon)

    @property
    def release(self) -> str:
        """The release phase's command, "" when the stack has none for this plan."""
        if self.stack.release and (self.has_postgres or not self.stack.release_needs_database):
            return self.stack.release
        return ""

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
        if self.release:
            lines.append(("release", self.release))
        return lines

    @property
    def procfile_dev(self) -> list[tuple[str, str]]:
        lines = [("web", self.dev_server.command.format(module=self.module))]
        if self.worker:
            lines.append(("worker", self.worker.development_command.format(module=self.module)))
        return lines

    # ---------------------------------------------------------------- dependencies

    @property
    def autoscaler_packages(self) -> tuple[Package, ...]:
        if not (self.worker and self.autoscaler):
            return ()
        return self.autoscaler.packages[self.worker.key]

    @property
    def packages(self) -> list[Package]:
        """What Gemfile.deploy or requirements-deploy.txt asks for, in a stable order."""
        packages = [*self.stack.packages,
                    *(p for p in (self.web_server.package, self.dev_server.package) if p)]
        for addon in self.addons:
            packages.extend(addon.packages.get(self.stack.key, ()))
        if self.worker:
            packages.extend(self.worker.packages)
            packages.extend(self.autoscaler_packages)
        return packages

    @property
    def dependency_include(self) -> DependencyInclude | None:
        """The line that pulls the layer's dependency file into the app's own (Gemfile,
        requirements.txt), None where the package manager itself holds the packages."""
        return self.package_manager.include if self.package_manager else self.stack.dependency

    @property
    def dependency_file(self) -> str:
        """Where the layer's packages are declared: its own file (Gemfile.deploy,
        requirements-deploy.txt), or the app's project file (pyproject.toml)."""
        pm = self.package_manager
        if pm is None:
            return self.stack.dependency_file
        return pm.layer_file or pm.project_file

    @property
    def requirements(self) -> list[str]:
        """The layer's Python packages as requirement strings (`Django>=4.2,<6`)."""
        return [python_packages.requirement(p) for p in self.packages]

    def package_command(self, template: str) -> str:
        """A package manager command line with all the layer's packages, shell-quoted."""
        return python_packages.command(template, self.packages)

    @property
    def locks_packages(self) -> bool:
        """Whether the app's own tool puts the layer's packages in a lock (uv, Poetry,
        Pipenv), rather than a file of the layer (pip, Bundler)."""
        return bool(self.package_manager and self.package_manager.project_file)

    @property
    def other_package_manager_files(self) -> list[str]:
        """The buildpack's package-manager files of the other package managers: the app
        must have none of them (DEPLOY.md names them)."""
        mine = self.package_manager.marker if self.package_manager else ""
        return [pm.marker for pm in PACKAGE_MANAGERS.values() if pm.marker != mine]

    @property
    def copy_adds_with(self) -> str:
        """The command the copy runs to add the layer's packages, without them."""
        pm = self.package_manager
        return pm.add_lock_only.format(packages="").strip() if pm else ""

    @property
    def lock_names(self) -> list[str]:
        """The names the lock file must hold for the layer's packages (uv, Poetry, Pipenv):
        bin/heroku-deploy checks them before a push."""
        if not (self.package_manager and self.package_manager.lock_file):
            return []
        return python_packages.lock_names(self.packages)

    def lock_entry(self, name: str) -> str:
        return self.package_manager.lock_entry.format(name=name) if self.package_manager else ""

    @property
    def task_arguments(self) -> str:
        """What the app-files task (extensions/app_files.py) needs, as one JSON argument."""
        return json.dumps({"stack": self.stack.key,
                           "package_manager": self.package_manager.key
                           if self.package_manager else "",
                           "packages": [[p.name, p.requirement] for p in self.packages]
                           if self.package_manager else []})

    # ---------------------------------------------------------------- config vars

    @property
    def config_vars(self) -> list[ConfigVar]:
        seen: dict[str, ConfigVar] = {}
        worker_vars = (*self.worker.config_vars,
                       *(self.autoscaler.provides if self.autoscaler else ())) \
            if self.worker else ()
        for var in (*self.stack.config_vars, *(v for a in self.addons for v in a.provides),
                    *worker_vars):
            if var.obsolete_when and self.version_is(var.obsolete_when):
                continue
            seen.setdefault(var.name, var)
        return [self._for_this_app(var) for var in seen.values()]

    def _for_this_app(self, var: ConfigVar) -> ConfigVar:
        """{module} in a catalog value stands for this app's Python package."""
        def fill(value: str | None) -> str | None:
            return value.replace("{module}", self.module) if value else value
        return replace(var, example=fill(var.example), heroku_value=fill(var.heroku_value),
                       development_value=fill(var.development_value))

    @property
    def development_values(self) -> dict[str, str]:
        """What .env gets at copy time besides the secret."""
        return {v.name: v.development_value for v in self.config_vars
                if v.development_value is not None}

    def generated_secrets(self, stage: str) -> list[str]:
        """Config vars bin/heroku-setup fills with a fresh random value on one app.

        SANITIZE_SALT keys the sanitize task's `hash` strategy: random and kept on
        staging, so a pseudonym stays the same from one mirror to the next but cannot be
        reversed by hashing guesses, as it could with a salt from the committed rules."""
        return [v.name for v in self.config_vars if stage in v.generated_on]

    def app_name(self, stage: str) -> str:
        return self.production_app if stage == "production" else self.staging_app

    def config_values(self, stage: str) -> dict[str, str]:
        """Plain (non-secret) config vars the setup script sets on one app."""
        return {v.name: v.heroku_value.format(stage=stage, app=self.app_name(stage))
                for v in self.config_vars if v.heroku_value}

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

    def app_json(self) -> dict[str, Any]:
        """app.json: what review apps and Heroku's app setup read."""
        env: dict[str, Any] = {}
        for var in self.config_vars:
            if "review" in var.generated_on:
                env[var.name] = {"description": var.description, "generator": "secret"}
            elif var.heroku_value and "{app}" not in var.heroku_value:
                env[var.name] = {"description": var.description,
                                 "value": var.heroku_value.format(stage="review")}
        scripts = {"postdeploy": self.stack.seed} if self.has_postgres and self.stack.seed \
            else {}
        return {
            "name": self.project_name,
            "description": f"{self.project_name}, deployed on Heroku.",
            "buildpacks": [{"url": self.stack.buildpack}],
            "env": env,
            "addons": [{"plan": a.service_plan} for a in self.addons],
            "formation": {"web": {"quantity": 1, "size": "basic"},
                          **({"worker": {"quantity": self.worker_min, "size": "basic"}}
                             if self.worker else {})},
            "scripts": scripts,
        }


def _for_stack(table: Mapping[str, Any], answer: Any, stack: Stack, default: str):
    """The answer's entry when it belongs to this stack, else the stack's default: the
    server questions are only asked where a stack has a choice."""
    entry = table.get(str(answer))
    return entry if entry and stack.key in entry.stacks else table[default]


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


def build_plan(answers: Mapping[str, Any]) -> Plan:
    """The plan for these answers. Answers not given yet (while Copier is still asking)
    take their defaults, so a `when:` can read the plan of the questions so far."""
    stack = STACKS[str(answers["stack"])]
    chosen = set(answers.get("addons") or ())
    worker = WORKERS.get(str(answers.get("worker") or "none"))
    if worker and stack.key not in worker.stacks:
        worker = None
    autoscaler = AUTOSCALERS.get(str(answers.get("autoscaler") or "none")) if worker else None
    # The worker's queue lives in an add-on, and Judoscale is one: both join the bootstrap.
    chosen |= {key for key in (worker and worker.addon, autoscaler and autoscaler.addon) if key}
    worker_min = whole_number(answers.get("worker_min"))
    worker_min = 1 if worker_min is None else worker_min
    worker_max = whole_number(answers.get("worker_max")) if autoscaler else None
    worker_max = max(worker_min, 1) if worker_max is None else worker_max
    pipeline = _flag(answers.get("pipeline"), True)
    return Plan(
        stack=stack,
        web_server=_for_stack(WEB_SERVERS, answers.get("web_server"), stack,
                              stack.default_web_server),
        dev_server=_for_stack(DEV_SERVERS, answers.get("dev_server"), stack,
                              stack.default_dev_server),
        # Catalog order, not answer order: the same answers always give the same files.
        addons=tuple(a for key, a in {**ADDONS, **IMPLIED_ADDONS}.items() if key in chosen),
        project_name=str(answers.get("project_name") or ""),
        app_slug=str(answers.get("app_slug") or ""),
        production_app=str(answers.get("production_app") or ""),
        staging_app=str(answers.get("staging_app") or ""),
        region=str(answers.get("heroku_region") or "us"),
        team=str(answers.get("heroku_team") or ""),
        pipeline=pipeline,
        review_apps=pipeline and _flag(answers.get("review_apps"), False),
        backup_schedule=str(answers.get("backup_schedule") or ""),
        module=str(answers.get("python_module") or "") if stack.language == "python" else "",
        worker=worker,
        autoscaler=autoscaler,
        worker_min=worker_min,
        worker_max=worker_max,
        version=stack.version(answers.get(f"{stack.key}_version")) if stack.versions else None,
        package_manager=PACKAGE_MANAGERS.get(
            str(answers.get("python_package_manager") or DEFAULT_PACKAGE_MANAGER),
            PACKAGE_MANAGERS[DEFAULT_PACKAGE_MANAGER]) if stack.language == "python" else None,
    )
