"""Rails 7.2 from Debian 13 (trixie), in a chroot next to this Debian 12 machine's 6.1.

`.ci/run` builds the chroot once with debootstrap and keeps it under
~/.cache/copier-heroku/trixie (TRIXIE_ROOT overrides). Each command runs in a mount
namespace of its own (`unshare -m`): /proc, /dev and the test's work folder (at /srv) are
mounted there, and vanish with the namespace when its last process ends, so nothing is
left mounted on the host whatever happens to the test. The network is the caller's: the
host's loopback, or the namespace boot_probe.py runs in.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from helpers.tools import missing, require_tool

TRIXIE_ROOT = Path(os.environ.get("TRIXIE_ROOT",
                                  Path.home() / ".cache" / "copier-heroku" / "trixie"))
# What the chroot holds besides the base system; .ci/run installs the same list.
PACKAGES = ("ruby-rails", "puma", "ruby-pg", "ruby-foreman", "rake", "bundler",
            "ruby-sidekiq", "ruby-redis")
# Where the work folder (the app and its HOME) appears inside the chroot.
MOUNT = "/srv"
PATH = "/usr/local/bin:/usr/bin:/bin"
# Host variables that mean nothing inside the chroot.
_HOST_ONLY = re.compile(r"^(PATH|HOME|PWD|OLDPWD|VIRTUAL_ENV|PYENV.*|PYTHON.*|LD_.*)$")


def trixie_root() -> Path:
    """The chroot, or a skip (a failure under REQUIRE_E2E=1) saying what is missing."""
    if os.geteuid() != 0:
        missing("the Debian 13 chroot needs root (chroot, mount namespaces)")
    require_tool("unshare")
    stamp = TRIXIE_ROOT / ".copier-heroku-packages"
    if not (TRIXIE_ROOT / "usr" / "bin" / "rails").exists() or not stamp.is_file() \
            or stamp.read_text().strip() != ",".join(PACKAGES):
        missing(f"no Debian 13 chroot with {', '.join(PACKAGES)} at {TRIXIE_ROOT} (.ci/run "
                f"builds it: debootstrap --variant=minbase --include={','.join(PACKAGES)} "
                f"trixie DIR, then writes that list to DIR/.copier-heroku-packages)")
    return TRIXIE_ROOT


def inside(work: Path, path: Path) -> str:
    """A host path under `work` as the chroot sees it."""
    return str(Path(MOUNT) / path.relative_to(work))


def command(work: Path, cwd: Path, argv: list[str], env: dict[str, str]) -> list[str]:
    """argv run in the chroot, in `cwd` (under `work`), with `env` (host-only variables
    dropped, PATH and HOME the chroot's)."""
    root = trixie_root()
    chroot_env = {k: v for k, v in env.items() if not _HOST_ONLY.match(k)}
    chroot_env.update(PATH=PATH, HOME=f"{MOUNT}/home", LANG="C.UTF-8")
    mounts = (f"mount --bind {shlex.quote(str(work))} {shlex.quote(str(root))}{MOUNT} && "
              f"mount -t proc proc {shlex.quote(str(root))}/proc && "
              f"mount --rbind /dev {shlex.quote(str(root))}/dev && "
              f"exec chroot {shlex.quote(str(root))} "
              f"/usr/bin/env -i {' '.join(shlex.quote(f'{k}={v}') for k, v in chroot_env.items())} "
              f"sh -c 'cd \"$0\" && exec \"$@\"' {shlex.quote(inside(work, cwd))} "
              f"{shlex.join(argv)}")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", mounts]


def run(work: Path, cwd: Path, argv: list[str], env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command(work, cwd, argv, env or {}), capture_output=True,
                          text=True, timeout=timeout, check=False)


def rails_new(work: Path, name: str = "demo") -> Path:
    """`rails new` of Debian 13's Rails 7.2, minimal, PostgreSQL, with no gem Debian lacks
    (debug, rubocop, brakeman, an asset pipeline) so `bundle install --local` resolves."""
    (work / "home").mkdir(parents=True, exist_ok=True)
    done = run(work, work, ["rails", "new", name, "--minimal", "--skip-bundle", "--skip-git",
                            "--database=postgresql", "--skip-rubocop", "--skip-brakeman",
                            "--skip-asset-pipeline", "--skip-docker"])
    if done.returncode:
        raise RuntimeError(f"rails new failed in the chroot:\n{done.stdout}{done.stderr}")
    app = work / name
    gemfile = app / "Gemfile"
    gemfile.write_text("".join(line for line in gemfile.read_text().splitlines(True)
                               if not re.match(r'\s*gem "debug"', line)))
    return app


# Rails 8's production databases (tests/fixtures/rails-8.1/config/database.yml), put in
# the 7.2 app so its release phase migrates four databases on one DATABASE_URL for real.
SOLID_PRODUCTION = """\
production:
  primary: &primary_production
    <<: *default
    database: demo_production
    username: demo
    password: <%= ENV["DEMO_DATABASE_PASSWORD"] %>
  cache:
    <<: *primary_production
    database: demo_production_cache
    migrations_paths: db/cache_migrate
  queue:
    <<: *primary_production
    database: demo_production_queue
    migrations_paths: db/queue_migrate
  cable:
    <<: *primary_production
    database: demo_production_cable
    migrations_paths: db/cable_migrate
"""


def build_rails72_app(work: Path, answers: dict | None = None, *,
                      solid_databases: bool = True, made: Path | None = None) -> Path:
    """`rails new` 7.2 in the chroot (or the app `made` by it already), the layer copied
    on from this machine, `bundle install --local` in the chroot, and the developer's
    route and migration."""
    from helpers.boot_apps import add_app_code
    from helpers.template import generate

    app = made or rails_new(work)
    if solid_databases:
        database_yml = app / "config" / "database.yml"
        text = database_yml.read_text()
        database_yml.write_text(text[:text.index("\nproduction:\n") + 1] + SOLID_PRODUCTION)
    generate(app, {"addons": ["heroku-postgresql"], "rails_version": "7.2", **(answers or {})},
             overwrite=True)
    bundle = run(work, app, ["bundle", "install", "--local"])
    if bundle.returncode:
        raise RuntimeError(f"bundle install --local failed in the chroot:\n"
                           f"{bundle.stdout}{bundle.stderr}")
    add_app_code(app)
    return app
