"""The Rails deploy layer as a Rails developer meets it: on a fresh `rails new` app, in git."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from copier_heroku import owned_lines
from helpers.rails import rails_new
from helpers.template import generate, git
from helpers.tools import require_tool


@pytest.fixture(scope="module")
def rails_gitignore(tmp_path_factory) -> list[str]:
    """The .gitignore that `rails new` writes (only written when git is not skipped)."""
    app = rails_new(tmp_path_factory.mktemp("rails-git"), skip_git=False)
    return [line for line in (app / ".gitignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.fixture
def rails_app(tmp_path) -> Path:
    return rails_new(tmp_path)


def bundler_dependencies(app: Path) -> dict[str, dict]:
    """What Bundler reads from the app's Gemfile, Gemfile.deploy included."""
    script = ('d = Bundler::Dsl.new; d.eval_gemfile("Gemfile"); '
              'puts JSON.generate(d.dependencies.map { |x| '
              '{name: x.name, requirement: x.requirement.to_s, groups: x.groups} })')
    out = subprocess.run(["ruby", "-rbundler", "-rjson", "-e", script], cwd=app, check=True,
                         capture_output=True, text=True).stdout
    deps = json.loads(out)
    names = [d["name"] for d in deps]
    assert len(names) == len(set(names)), f"a gem is declared twice: {names}"
    return {d["name"]: d for d in deps}


def test_env_is_ignored_and_env_example_is_not(default_app, tmp_path):
    app = shutil.copytree(default_app, tmp_path / "app")
    git(app, "init", "-q")
    for ignored in (".env", ".env.production", ".env.local", "config/master.key"):
        assert git(app, "check-ignore", "-q", ignored, check=False).returncode == 0, ignored
    assert git(app, "check-ignore", "-q", ".env.example", check=False).returncode == 1


def test_no_value_from_env_reaches_a_tracked_file(default_app, tmp_path):
    app = shutil.copytree(default_app, tmp_path / "app")
    git(app, "init", "-q")
    git(app, "add", "-A")
    git(app, "commit", "-qm", "generated")
    tracked = git(app, "ls-files").stdout.split()
    assert ".env" not in tracked and ".env.example" in tracked
    values = [line.split("=", 1)[1] for line in (app / ".env").read_text().splitlines()
              if "=" in line and not line.startswith("#")]
    secret = next(v for v in values if len(v) >= 64)
    for name in tracked:
        text = (app / name).read_text(errors="replace")
        assert secret not in text, f"the development secret leaked into {name}"


def test_env_holds_a_fresh_secret_per_copy(tmp_path):
    first = generate(tmp_path / "one")
    second = generate(tmp_path / "two")
    assert (first / ".env").read_text() != (second / ".env").read_text()
    assert "SECRET_KEY_BASE=" in (first / ".env").read_text()
    assert "SECRET_KEY_BASE=generate-with-bin-rails-secret" in (first / ".env.example").read_text()


def test_rails_own_ignores_survive_the_copy(rails_gitignore, rails_app):
    generate(rails_app, {"project_name": "demo"}, overwrite=True)
    ours = (rails_app / ".gitignore").read_text().splitlines()
    dropped = [line for line in rails_gitignore if line not in ours]
    assert not dropped, f"copying dropped Rails's own ignores: {dropped}"


def test_copy_onto_rails_new_adds_eval_gemfile_once(rails_app):
    require_tool("ruby")
    generate(rails_app, {"project_name": "demo", "dev_server": "thin"}, overwrite=True)
    # A second copy (or an update) must not add the line again.
    generate(rails_app, {"project_name": "demo", "dev_server": "thin"}, overwrite=True)
    gemfile = (rails_app / "Gemfile").read_text()
    assert gemfile.count('eval_gemfile "Gemfile.deploy"') == 1
    deps = bundler_dependencies(rails_app)
    # The Gemfile's own puma pin wins; the layer adds what the app lacks.
    assert deps["puma"]["requirement"] == "~> 5.0"
    assert deps["thin"]["groups"] == ["development"]
    assert "newrelic_rpm" in deps


def test_unicorn_without_addons_asks_bundler_for_unicorn_only(rails_app):
    require_tool("ruby")
    generate(rails_app, {"project_name": "demo", "web_server": "unicorn", "addons": []},
             overwrite=True)
    deps = bundler_dependencies(rails_app)
    assert "unicorn" in deps and "newrelic_rpm" not in deps
    assert (rails_app / "Procfile").read_text() == (
        "web: bundle exec unicorn -p $PORT -c ./config/unicorn.rb\n")


def test_without_a_gemfile_the_user_is_told_the_line_to_add(tmp_path, capfd):
    generate(tmp_path / "bare", quiet=False)
    told = capfd.readouterr()
    told = told.out + told.err
    assert "No Gemfile here: add this line to the app's Gemfile: eval_gemfile \"Gemfile.deploy\"" in told


def test_procfiles_follow_the_answers(tmp_path):
    puma = generate(tmp_path / "puma")
    assert (puma / "Procfile").read_text() == (
        "web: bundle exec puma -C config/puma.rb\nrelease: bin/rails db:migrate\n")
    assert owned_lines.processes((puma / "Procfile.dev").read_text()) == {
        "web": "bin/rails server -p $PORT"}
    no_db = generate(tmp_path / "nodb", {"addons": ["newrelic"]})
    assert "release:" not in (no_db / "Procfile").read_text()


def test_bin_dev_says_how_to_install_foreman_when_missing(default_app, tmp_path):
    bin_dev = default_app / "bin" / "dev"
    assert bin_dev.stat().st_mode & stat.S_IXUSR
    # A PATH with bash and dirname but no foreman.
    path = tmp_path / "path"
    path.mkdir()
    for tool in ("bash", "dirname"):
        (path / tool).symlink_to(shutil.which(tool))
    result = subprocess.run([str(bin_dev)], capture_output=True, text=True,
                            env={"PATH": str(path), "HOME": str(tmp_path)})
    assert result.returncode == 127
    assert ("bin/dev needs foreman, which is not installed: run 'gem install foreman'"
            in result.stderr)


def test_app_json_comes_from_the_catalog(default_app):
    app_json = json.loads((default_app / "app.json").read_text())
    assert app_json["env"]["SECRET_KEY_BASE"] == {
        "description": app_json["env"]["SECRET_KEY_BASE"]["description"], "generator": "secret"}
    assert app_json["env"]["APP_STAGE"]["value"] == "review"
    assert [a["plan"] for a in app_json["addons"]] == [
        "heroku-postgresql:essential-0", "newrelic:wayne"]
    assert app_json["formation"]["web"]["quantity"] == 1
