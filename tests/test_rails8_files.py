"""The layer on what `rails new` 8.x writes, and on what tailwindcss-rails and
cssbundling-rails (with jsbundling-rails's line) write over it: bin/dev, Procfile.dev with
watcher lines, config/puma.rb with the Solid Queue plugin, database.yml with the Solid
databases, .gitignore with `/.env*`. The files are fixtures (tests/fixtures/README.md);
Rails 8 itself is not installed, so what Rails reads is read with Ruby's own ERB, YAML and
Puma's configuration loader, and bin/dev runs with the real foreman against stand-ins for
bin/rails and yarn.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from copier_heroku import build_plan, owned_lines
from helpers.paths import TESTS
from helpers.rails8 import INSTALLERS, rails8_app
from helpers.template import ANSWERS_FILE, generate, git, update
from helpers.tools import require_tool, stop_group

VARIANTS = (None, *INSTALLERS)
VARIANT_IDS = ("rails-new", *INSTALLERS)
LAYER = {"worker": "sidekiq", "addons": ["heroku-postgresql", "heroku-redis"]}
# What each variant's own Procfile.dev runs besides the web server.
WATCHERS = {
    None: {},
    "tailwindcss-rails": {"css": "bin/rails tailwindcss:watch"},
    "cssbundling-rails": {"css": "yarn build:css --watch", "js": "yarn build --watch"},
}


@pytest.fixture(scope="module", params=VARIANTS, ids=VARIANT_IDS)
def layered(request, tmp_path_factory) -> tuple[Path, str | None]:
    """A Rails 8.1 app (plain, or after an asset installer) with the layer copied on, as
    `copier copy --trust --overwrite` onto it: (app, installer)."""
    app = rails8_app(tmp_path_factory.mktemp("rails8") / "demo", request.param)
    generate(app, {"project_name": "demo", **LAYER}, overwrite=True)
    return app, request.param


def recorded(app: Path) -> dict:
    return yaml.safe_load((app / ANSWERS_FILE).read_text())


# --------------------------------------------------------------------------- the version


def test_the_rails_version_is_read_from_gemfile_lock(layered):
    app, _ = layered
    assert recorded(app)["rails_version"] == "8.1"
    env_example = (app / ".env.example").read_text()
    assert "RAILS_SERVE_STATIC_FILES" not in env_example
    assert "RAILS_LOG_TO_STDOUT" not in env_example
    assert "RAILS_SERVE_STATIC_FILES" not in json.loads((app / "app.json").read_text())["env"]


@pytest.mark.parametrize("locked,version", [("7.2.2.2", "7.2"), ("8.0.0.rc1", "8.0"),
                                             ("6.1.7.10", "6.1"), ("9.0.0", "8.1"),
                                             ("6.0.6", "")])
def test_gemfile_lock_gives_the_release_line(locked, version):
    from copier_heroku import answers
    from copier_heroku.stacks import STACKS

    lock = f"GEM\n  specs:\n    railties ({locked})\n      actionpack (= {locked})\n"
    assert answers.detect_version(STACKS["rails"], lock) == version


def test_an_answer_that_contradicts_gemfile_lock_is_refused(tmp_path):
    app = rails8_app(tmp_path / "demo")
    with pytest.raises(ValueError) as refused:
        generate(app, {"rails_version": "7.2"}, overwrite=True)
    assert "Gemfile.lock locks Rails 8.1, so the version must be 8.1" in str(refused.value)


@pytest.mark.parametrize("version,dead", [("6.1", True), ("7.0", True), ("7.1", False),
                                          ("7.2", False), ("8.0", False)])
def test_static_files_and_stdout_vars_only_before_rails_7_1(version, dead):
    plan = build_plan({"stack": "rails", "rails_version": version})
    names = {var.name for var in plan.config_vars}
    assert ("RAILS_SERVE_STATIC_FILES" in names) is dead
    assert ("RAILS_LOG_TO_STDOUT" in names) is dead
    assert plan.config_values("production")["RAILS_MAX_THREADS"] == "3"


def test_app_json_leaves_the_heroku_stack_to_heroku(layered):
    app, _ = layered
    assert "stack" not in json.loads((app / "app.json").read_text())


# --------------------------------------------------------------------------- Procfile.dev


def test_watcher_lines_survive_next_to_the_layers_processes(layered):
    app, installer = layered
    text = (app / "Procfile.dev").read_text()
    plan = build_plan(recorded(app))
    assert owned_lines.processes(text) == {**WATCHERS[installer], **dict(plan.procfile_dev)}
    assert text.endswith(plan.block("Procfile.dev")), "the layer's block is last"
    if installer:
        # The installer's own web line would start a second server: kept, commented out.
        assert f"{owned_lines.REPLACED}web: " in text


def test_the_bare_lines_of_an_older_release_move_into_the_block():
    """Before the block, the layer wrote Procfile.dev whole: its own lines go into the
    block, a line the app changed is commented out, the app's others stay."""
    lines = ("web: bin/rails server -p $PORT", "worker: bundle exec good_job start")
    old = "web: bin/rails server -p $PORT\nworker: bundle exec sidekiq\njs: yarn build --watch\n"
    fixed = owned_lines.with_procfile_block(old, lines)
    assert owned_lines.processes(fixed) == {"js": "yarn build --watch",
                                            **dict(line.split(": ", 1) for line in lines)}
    assert fixed.startswith(f"{owned_lines.REPLACED}worker: bundle exec sidekiq\n")
    assert owned_lines.with_procfile_block(fixed, lines) == fixed


def test_a_second_copy_changes_nothing_in_the_apps_files(layered):
    app, _ = layered
    files = ("Procfile.dev", "config/puma.rb", "config/database.yml", ".gitignore", "Gemfile")
    before = {name: (app / name).read_text() for name in files}
    generate(app, {"project_name": "demo", **LAYER}, overwrite=True)
    assert {name: (app / name).read_text() for name in files} == before


# --------------------------------------------------------------------------- bin/dev

STAND_IN = """#!/bin/sh
# Stands in for {name}: says which process it is and what .env gave it, then waits.
echo "ran: {name} $* APP_STAGE=$APP_STAGE"
exec sleep 60
"""


def run_bin_dev(app: Path, tmp_path: Path, expect: int, timeout: float = 30) -> str:
    """Run the app's bin/dev (the real foreman) until `expect` processes said they started;
    stop its process group by PID. bin/rails and yarn are stand-ins."""
    foreman = require_tool("foreman")
    stand_ins = tmp_path / "stand-ins"
    stand_ins.mkdir()
    (stand_ins / "yarn").write_text(STAND_IN.format(name="yarn"))
    (stand_ins / "yarn").chmod(0o755)
    (app / "bin" / "rails").write_text(STAND_IN.format(name="bin/rails"))
    (app / "bin" / "rails").chmod(0o755)
    env = {"PATH": f"{stand_ins}:{Path(foreman).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    log = tmp_path / "bin-dev.log"
    with open(log, "w") as out:
        process = subprocess.Popen(["bin/dev"], cwd=app, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and log.read_text().count("ran: ") < expect:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        stop_group(process, 15)
    return log.read_text()


def test_bin_dev_starts_every_process_of_procfile_dev_and_loads_env(layered, tmp_path):
    app, installer = layered
    work = tmp_path / "demo"
    subprocess.run(["cp", "-a", str(app), str(work)], check=True)
    processes = owned_lines.processes((work / "Procfile.dev").read_text())
    # The worker's command is `bundle exec sidekiq`: no bundle here, so start the others.
    (work / "Procfile.dev").write_text((work / "Procfile.dev").read_text().replace(
        processes["worker"], "bin/rails sidekiq-stand-in"))

    output = run_bin_dev(work, tmp_path, expect=len(processes))

    started = {line.split()[1].split(".")[0]: line.split("ran: ", 1)[1]
               for line in output.splitlines() if "ran: " in line}
    assert set(started) == set(processes), output
    for name, command in processes.items():
        if name != "worker":
            # The stand-in echoes its command line; foreman gave $PORT its number.
            assert started[name].startswith(command.split(" -p ")[0]), output
    # foreman read .env, written by the copy: every process got its APP_STAGE.
    assert all(line.endswith("APP_STAGE=development") for line in started.values()), output


# --------------------------------------------------------------------------- config/puma.rb


def puma_settings(app: Path, **env: str) -> dict:
    ruby = require_tool("ruby")
    require_tool("puma")
    done = subprocess.run([ruby, str(TESTS / "support" / "puma_config.rb"),
                           str(app / "config" / "puma.rb")], cwd=app, capture_output=True,
                          text=True, check=False,
                          env={"PATH": os.environ["PATH"], "HOME": str(app), **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_solid_queue_plugin_and_the_apps_lines_survive_in_puma_rb(layered):
    app, _ = layered
    text = (app / "config" / "puma.rb").read_text()
    ours = (TESTS / "fixtures" / "rails-8.1" / "config" / "puma.rb").read_text()
    assert text.startswith(ours), "Rails's own puma.rb is kept whole, above the block"
    assert 'plugin :solid_queue if ENV["SOLID_QUEUE_IN_PUMA"]' in text
    assert text.endswith(build_plan(recorded(app)).block("config/puma.rb"))


def test_puma_runs_herokus_advice_with_workers_and_threads_from_config_vars(layered):
    app, _ = layered
    production = puma_settings(app, RAILS_ENV="production")
    assert (production["workers"], production["min_threads"], production["max_threads"]) \
        == (2, 3, 3)
    assert production["preload_app"] and production["before_fork_hooks"] == 1
    if production["puma"] < "7":
        assert production["persistent_timeout"] == 95
    tuned = puma_settings(app, RAILS_ENV="production", WEB_CONCURRENCY="4",
                          RAILS_MAX_THREADS="5")
    assert (tuned["workers"], tuned["max_threads"]) == (4, 5)
    development = puma_settings(app, RAILS_ENV="development")
    assert development["workers"] == 0, "bin/rails server runs one process in development"


# --------------------------------------------------------------------------- database.yml

RESOLVE = """
require "erb"
require "yaml"
require "json"
text = ERB.new(File.read(ARGV.fetch(0))).result
config = YAML.respond_to?(:unsafe_load) ? YAML.unsafe_load(text) : YAML.load(text)
puts JSON.generate(config)
"""


def resolved_database_yml(app: Path, **env: str) -> dict:
    ruby = require_tool("ruby")
    done = subprocess.run([ruby, "-e", RESOLVE, str(app / "config" / "database.yml")],
                          capture_output=True, text=True, check=False,
                          env={"PATH": os.environ["PATH"], **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_production_database_resolves_to_the_one_database_url(layered):
    app, _ = layered
    url = "postgres://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8f00"
    config = resolved_database_yml(app, DATABASE_URL=url)
    production = config["production"]
    assert set(production) == {"primary", "cache", "queue", "cable"}
    for name, database in production.items():
        assert database["url"] == url, name
        assert database["adapter"] == "postgresql", name
    # Each keeps its own migrations, so `db:migrate` still knows the four apart.
    assert production["queue"]["migrations_paths"] == "db/queue_migrate"
    assert "url" not in config["development"] and "url" not in config["test"]


def test_a_single_production_database_is_left_to_rails():
    text = "default: &default\n  adapter: postgresql\n\nproduction:\n  <<: *default\n" \
           "  database: demo_production\n  username: demo\n"
    assert owned_lines.with_database_urls(text) == text


def test_a_database_with_its_own_url_keeps_it():
    text = ("production:\n  primary:\n    adapter: postgresql\n"
            "    url: <%= ENV['PRIMARY_URL'] %>\n  cache:\n    adapter: postgresql\n")
    fixed = owned_lines.with_database_urls(text)
    assert fixed.count("url:") == 2 and "PRIMARY_URL" in fixed
    assert owned_lines.with_database_urls(fixed) == fixed


# --------------------------------------------------------------------------- .gitignore


def test_env_example_stays_tracked_under_rails_8_ignores(layered):
    app, _ = layered
    git(app, "init", "-q")
    for path, ignored in ((".env", True), (".env.production", True),
                          (".env.example", False), ("config/master.key", True)):
        result = git(app, "check-ignore", "-q", "--no-index", path, check=False)
        assert (result.returncode == 0) is ignored, path
    assert "/.env*" in (app / ".gitignore").read_text(), "Rails's own lines stay"


# --------------------------------------------------------------------------- update


def test_an_update_after_a_new_watcher_keeps_it_and_the_block_once(template_repo, tmp_path):
    """tailwindcss-rails installed after the copy appends `css:` below the block; the next
    `copier update` keeps it, above the block, and the block stays single and last."""

    app = rails8_app(tmp_path / "demo")
    generate(app, {"project_name": "demo"}, overwrite=True, src=template_repo,
             vcs_ref="v1.0.0")
    git(app, "init", "-q")
    git(app, "add", "-A")
    git(app, "commit", "-qm", "deploy layer")
    procfile_dev = app / "Procfile.dev"
    procfile_dev.write_text(procfile_dev.read_text() + "css: bin/rails tailwindcss:watch\n")
    git(app, "commit", "-qam", "tailwindcss-rails")

    update(app)

    text = procfile_dev.read_text()
    assert text.count(owned_lines.BEGIN) == 1
    assert text.endswith(build_plan(recorded(app)).block("Procfile.dev"))
    assert owned_lines.processes(text)["css"] == "bin/rails tailwindcss:watch"
    assert (app / "config" / "database.yml").read_text().count("copier-heroku") == 4
