"""Workers and autoscaling: what each `worker` and `autoscaler` answer writes, what bin/heroku-setup
does with the worker (scales it up to `worker_min`, never down), and the worker running its
smoke job for real under honcho or foreman against Heroku-style Redis: TLS (rediss://) with a
self-signed certificate, served by Debian's redis-server on 127.0.0.1.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from copier_heroku import answers, build_plan, catalog
from helpers.questions import choice_values
from helpers.redis import heroku_style_redis, run_worker_until_smoke
from helpers.template import generate
from helpers.tools import missing, require_tool
from test_ops_scripts import PRODUCTION, STAGING, Heroku, printed_heroku_lines


def combo(stack: str, worker: str, autoscaler: str) -> tuple[str, dict[str, Any]]:
    # An autoscaler may stop the worker while no job waits; without one it keeps two.
    # Python apps on pip: the behaviour tests install requirements.txt.
    return f"{stack}-{worker}-{autoscaler}", {
        "stack": stack, "worker": worker, "autoscaler": autoscaler,
        "worker_min": "0" if autoscaler != "none" else "2", "worker_max": "4",
        "addons": ["newrelic"], **({} if stack == "rails" else {"python_package_manager": "pip"})}


# Every worker with every autoscaler, each Python one on django and on flask, for the
# behaviour tests below (the generation matrix lints every pair of answers).
COMBOS: dict[str, dict[str, Any]] = dict([
    *(combo("rails", w, a) for w in ("sidekiq", "good_job")
      for a in ("none", "hirefire", "judoscale")),
    combo("django", "celery", "none"), combo("django", "celery", "judoscale"),
    combo("flask", "celery", "hirefire"), combo("flask", "rq", "none"),
    combo("django", "rq", "hirefire"), combo("flask", "rq", "judoscale"),
])


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> dict[str, Path]:
    built = {}
    for name, data in COMBOS.items():
        app = generate(tmp_path_factory.mktemp(name) / "demo-shop", data)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=app, check=True)
        built[name] = app
    return built


# --------------------------------------------------------------------------- answers


BAD_ANSWERS = [
    ("celery-on-rails", {"worker": "celery"}, "Celery runs on django and flask only; for "
     "rails choose sidekiq or good_job or none."),
    ("sidekiq-on-django", {"stack": "django", "worker": "sidekiq"},
     "Sidekiq runs on rails only; for django choose celery or rq or none."),
    ("good-job-on-flask", {"stack": "flask", "worker": "good_job"}, "GoodJob runs on rails"),
    ("min-fraction", {"worker": "sidekiq", "worker_min": "1.5"},
     "Minimum worker dynos must be a whole number from 0 to 100; got '1.5'."),
    ("min-negative", {"worker": "sidekiq", "worker_min": "-1"}, "Minimum worker dynos must be"),
    ("min-too-many", {"worker": "sidekiq", "worker_min": "101"}, "from 0 to 100"),
    ("min-zero-without-autoscaler", {"worker": "sidekiq", "worker_min": "0"},
     "Minimum worker dynos can be 0 only with an autoscaler"),
    ("max-below-min", {"worker": "sidekiq", "autoscaler": "judoscale", "worker_min": "3",
                       "worker_max": "2"},
     "Maximum worker dynos must be at least the minimum (3) and at least 1; got 2."),
    ("max-zero", {"worker": "sidekiq", "autoscaler": "hirefire", "worker_min": "0",
                  "worker_max": "0"}, "Maximum worker dynos must be at least"),
    ("max-words", {"worker": "sidekiq", "autoscaler": "hirefire", "worker_max": "lots"},
     "Maximum worker dynos must be a whole number from 1 to 100; got 'lots'."),
    ("max-too-many", {"worker": "sidekiq", "autoscaler": "hirefire", "worker_max": "500"},
     "from 1 to 100"),
    ("unknown-autoscaler", {"worker": "sidekiq", "autoscaler": "kubernetes"},
     "'kubernetes' is not in"),
]


@pytest.mark.parametrize("answers,sentence", [(a, s) for _, a, s in BAD_ANSWERS],
                         ids=[i for i, _, _ in BAD_ANSWERS])
def test_a_bad_worker_answer_is_refused_with_one_sentence(tmp_path, answers, sentence):
    with pytest.raises(ValueError) as refused:
        generate(tmp_path / "app", answers)
    assert sentence in str(refused.value)
    assert not (tmp_path / "app").exists() or not any((tmp_path / "app").iterdir())


@pytest.mark.parametrize("value", ["0", "1", "100", " 7 ", 3])
def test_whole_numbers_from_0_to_100_are_a_valid_minimum(value):
    assert answers.worker_min_error(value, "judoscale") == ""


@pytest.mark.parametrize("value", ["", "1.0", "1e2", "0x1", "٣", "101", None, True, "1 2"])
def test_anything_else_is_not_a_minimum(value):
    message = answers.worker_min_error(value, "judoscale")
    assert message.startswith("Minimum worker dynos must be a whole number")
    assert message.count(". ") == 0 and message.endswith(".")


def test_prompt_offers_only_the_workers_of_the_chosen_stack():
    for stack in catalog.STACKS:
        offered = choice_values("worker", {"stack": stack})
        assert offered == ["none", *(w.key for w in catalog.WORKERS.values()
                                     if stack in w.stacks)]
        assert len(offered) > 1


# --------------------------------------------------------------------------- generated files


def procfile(app: Path, name: str = "Procfile") -> dict[str, str]:
    """Process name -> command, as foreman and honcho read it (comments skipped)."""
    lines = (app / name).read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines
                if line.strip() and not line.startswith("#"))


@pytest.mark.parametrize("combo", COMBOS)
def test_the_worker_runs_in_both_procfiles_with_its_addon(apps, combo):
    app, answers = apps[combo], COMBOS[combo]
    worker = catalog.WORKERS[answers["worker"]]
    assert "worker" in procfile(app) and "worker" in procfile(app, "Procfile.dev")
    manifest_ = json.loads((app / "app.json").read_text())
    plans = [a["plan"].split(":")[0] for a in manifest_["addons"]]
    # newrelic was the only add-on chosen: the worker's queue add-on joined it.
    assert worker.addon in plans and "newrelic" in plans
    assert ("judoscale" in plans) == (answers["autoscaler"] == "judoscale")
    assert manifest_["formation"]["worker"]["quantity"] == int(answers["worker_min"])
    env_example = (app / ".env.example").read_text()
    assert ("# HIREFIRE_TOKEN=" in env_example) == (answers["autoscaler"] == "hirefire")
    deps = (app / ("Gemfile.deploy" if answers["stack"] == "rails"
                   else "requirements-deploy.txt")).read_text()
    for package in worker.packages:
        assert package.name in deps
    if answers["autoscaler"] != "none":
        for package in catalog.AUTOSCALERS[answers["autoscaler"]].packages[worker.key]:
            assert package.name in deps
    guide = (app / "DEPLOY.md").read_text()
    assert "## Worker" in guide
    assert ("### Autoscaling with" in guide) == (answers["autoscaler"] != "none")


def test_no_worker_means_no_worker_anywhere(tmp_path):
    app = generate(tmp_path / "app", {"worker": "none"})
    assert "worker" not in procfile(app) and "worker" not in procfile(app, "Procfile.dev")
    assert not (app / "app" / "jobs").exists()
    assert "worker" not in json.loads((app / "app.json").read_text())["formation"]
    assert "ps:scale" not in (app / "bin" / "heroku-setup").read_text()
    assert "## Worker" not in (app / "DEPLOY.md").read_text()


def test_the_min_and_max_appear_where_the_autoscaler_is_set_up(apps):
    app = apps["rails-sidekiq-judoscale"]
    guide = (app / "DEPLOY.md").read_text()
    for name in (STAGING, PRODUCTION):
        assert f"heroku addons:open judoscale -a {name}" in guide
    assert "set its Dyno Range to 0 - 4" in guide
    hirefire = apps["rails-sidekiq-hirefire"]
    initializer = (hirefire / "config" / "initializers" / "hirefire.rb").read_text()
    assert "HireFire::Macro::Sidekiq.job_queue_latency(:default)" in initializer
    assert "set Minimum 0 and Maximum 4" in (hirefire / "DEPLOY.md").read_text()


def test_python_tasks_are_the_apps_own_after_generation(tmp_path):
    data = {"stack": "django", "worker": "celery"}
    app = generate(tmp_path / "demo-shop", data)
    tasks = app / "demo_shop" / "tasks.py"
    tasks.write_text("# our own tasks\n")
    worker = app / "demo_shop" / "worker.py"
    worker.write_text("# edited\n")
    generate(app, data, overwrite=True)
    assert tasks.read_text() == "# our own tasks\n"
    assert worker.read_text() != "# edited\n", "worker.py is the layer's, rewritten"


# --------------------------------------------------------------------------- bin/heroku-setup


@pytest.mark.parametrize("combo", COMBOS)
def test_setup_dry_run_scales_the_worker_with_lines_the_real_cli_accepts(apps, manifest,
                                                                          combo, tmp_path):
    heroku = Heroku(apps[combo], tmp_path)
    result = heroku.run("heroku-setup", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = printed_heroku_lines(result.stdout)
    assert [manifest.error(argv) for argv in lines if manifest.error(argv)] == []
    minimum = COMBOS[combo]["worker_min"]
    scaled = [argv for argv in lines if argv[0] == "ps:scale" and len(argv) > 3]
    if minimum == "0":
        assert scaled == []
    else:
        assert scaled == [["ps:scale", f"worker={minimum}", "-a", STAGING],
                          ["ps:scale", f"worker={minimum}", "-a", PRODUCTION]]
    if COMBOS[combo]["autoscaler"] != "none":
        label = catalog.AUTOSCALERS[COMBOS[combo]["autoscaler"]].label
        assert f"{label} scales the worker between 0 and 4 dynos" in result.stdout


def deployed(formation: dict[str, int]) -> dict[str, Any]:
    return {"formation": formation, "addons": [], "config": {}}


@pytest.fixture
def sidekiq_app(apps, tmp_path) -> Path:
    target = tmp_path / "demo-shop"
    shutil.copytree(apps["rails-sidekiq-none"], target, symlinks=True)
    return target


def test_setup_scales_a_deployed_worker_up_to_the_minimum_then_changes_nothing(
        sidekiq_app, manifest, tmp_path):
    heroku = Heroku(sidekiq_app, tmp_path)
    heroku.seed({STAGING: deployed({"web": 1, "worker": 0}),
                 PRODUCTION: deployed({"web": 2, "worker": 1})})
    first = heroku.run("heroku-setup")
    assert first.returncode == 0, first.stderr
    assert ["ps:scale", "worker=2", "-a", STAGING] in heroku.calls()
    assert ["ps:scale", "worker=2", "-a", PRODUCTION] in heroku.calls()
    world = heroku.world()
    assert world["apps"][STAGING]["formation"] == {"web": 1, "worker": 2}
    assert world["apps"][PRODUCTION]["formation"] == {"web": 2, "worker": 2}
    assert f"{PRODUCTION}: worker scaled from 1 to 2 dyno(s)" in first.stdout
    heroku.forget_calls()
    second = heroku.run("heroku-setup")
    assert second.returncode == 0, second.stderr
    assert [argv for argv in heroku.calls() if argv[0] == "ps:scale" and len(argv) > 3] == []
    assert "Nothing to change." in second.stdout
    assert f"{STAGING}: worker runs 2 dyno(s), at least 2" in second.stdout


def test_setup_never_scales_down_what_the_autoscaler_scaled_up(sidekiq_app, manifest,
                                                               tmp_path):
    heroku = Heroku(sidekiq_app, tmp_path)
    heroku.seed({STAGING: deployed({"web": 1, "worker": 5}),
                 PRODUCTION: deployed({"web": 1, "worker": 9})})
    result = heroku.run("heroku-setup")
    assert result.returncode == 0, result.stderr
    assert heroku.world()["apps"][PRODUCTION]["formation"]["worker"] == 9
    assert heroku.world()["apps"][STAGING]["formation"]["worker"] == 5


def test_setup_before_the_first_deploy_says_to_run_again_after_it(sidekiq_app, manifest,
                                                                 tmp_path):
    heroku = Heroku(sidekiq_app, tmp_path)
    result = heroku.run("heroku-setup")
    assert result.returncode == 0, result.stderr
    assert [argv for argv in heroku.calls() if argv[0] == "ps:scale" and len(argv) > 3] == []
    assert (f"{PRODUCTION} has no worker process yet: deploy it (bin/heroku-deploy), then "
            f"run bin/heroku-setup again to scale the worker to 2.") in result.stderr


# --------------------------------------------------------------------------- the worker runs

@pytest.fixture(scope="module")
def heroku_redis():
    """Redis as Heroku Redis serves it (helpers/redis.py): (REDIS_URL, redis-cli argv)."""
    with heroku_style_redis() as redis:
        yield redis


@pytest.fixture(scope="module")
def python_venv(tmp_path_factory, apps) -> Path:
    """One venv with the requirements of a Celery app and an RQ app, and honcho."""
    from helpers.boot_apps import make_venv

    return make_venv(tmp_path_factory.mktemp("venv") / "venv",
                     [apps["django-celery-judoscale"] / "requirements.txt",
                      apps["django-rq-hirefire"] / "requirements.txt"])


@pytest.mark.slow
@pytest.mark.parametrize("combo,says", [("django-celery-judoscale", "smoke task ran at"),
                                        ("django-rq-hirefire", "smoke job ran at")])
def test_python_worker_runs_the_smoke_job_from_heroku_redis_over_tls(
        apps, python_venv, heroku_redis, combo, says):
    from helpers.boot_apps import venv_env

    redis_url, redis_cli = heroku_redis
    app = apps[combo]
    env = venv_env(python_venv, app.parent / "home", REDIS_URL=redis_url,
                   APP_STAGE="development", SECRET_KEY="worker-test", PORT="5000")
    python = str(python_venv / "bin" / "python")
    smoke = build_plan({**COMBOS[combo], "python_module": "demo_shop"}).smoke_command
    # DEPLOY.md's command, with the venv's python.
    enqueue = [python, *shlex.split(smoke)[1:]]
    log = run_worker_until_smoke(app, [str(python_venv / "bin" / "honcho"), "start", "-f",
                                       "Procfile.dev", "worker"],
                                 enqueue, env, redis_cli)
    assert says in log


@pytest.mark.slow
def test_sidekiq_runs_the_smoke_job_from_heroku_redis_over_tls(tmp_path_factory,
                                                               heroku_redis):
    from helpers.boot_apps import boot_env
    from helpers.rails import rails_new

    require_tool("rails")
    foreman = require_tool("foreman")
    require_tool("bundle")
    if subprocess.run(["gem", "list", "-i", "^sidekiq$"], capture_output=True).returncode:
        missing("Debian's ruby-sidekiq is not installed (apt-get install ruby-sidekiq)")
    redis_url, redis_cli = heroku_redis
    parent = tmp_path_factory.mktemp("rails-sidekiq")
    app = rails_new(parent)
    gemfile = app / "Gemfile"
    # Debian has no byebug gem, and `rails new` asks for it.
    gemfile.write_text("".join(line for line in gemfile.read_text().splitlines(True)
                               if "byebug" not in line))
    # `rails new --minimal` leaves Active Job out; an app with jobs has it.
    application = app / "config" / "application.rb"
    application.write_text(application.read_text().replace(
        '# require "active_job/railtie"', 'require "active_job/railtie"'))
    generate(app, {"worker": "sidekiq", "addons": ["heroku-redis"], "worker_min": "1"},
             overwrite=True)
    env = boot_env(parent / "home", REDIS_URL=redis_url, PORT="5000")
    bundle = subprocess.run(["bundle", "install", "--local"], cwd=app, env=env,
                            capture_output=True, text=True, timeout=300)
    assert bundle.returncode == 0, bundle.stdout + bundle.stderr
    log = run_worker_until_smoke(
        app, [foreman, "start", "-f", "Procfile.dev", "worker"],
        ["bin/rails", "runner", "SmokeJob.perform_later"], env, redis_cli, timeout=120)
    assert "SmokeJob ran at" in log
