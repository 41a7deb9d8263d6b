"""The generated config/initializers/secret_key_base.rb, booted in a real Rails (Debian's
6.1) by a one-file application: production refuses to boot without a secret from the
environment, and the environment wins over config/credentials.yml.enc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.paths import TESTS
from helpers.tools import missing, require_tool

HARNESS = TESTS / "support" / "secret_harness.rb"
INITIALIZER = Path("config/initializers/secret_key_base.rb")
SECRET = "a" * 128
LEGACY = "b" * 128


@pytest.fixture
def rails_root(default_app, tmp_path) -> Path:
    require_tool("ruby")
    if subprocess.run(["ruby", "-e", "require 'rails'"], capture_output=True).returncode:
        missing("Rails is not installed for the system Ruby (Debian: ruby-rails)")
    root = tmp_path / "rails-root"
    (root / INITIALIZER.parent).mkdir(parents=True)
    shutil.copy(default_app / INITIALIZER, root / INITIALIZER)
    return root


def boot(root: Path, rails_env: str, *, credentials: bool = False, **env: str):
    clean = {k: v for k, v in os.environ.items()
             if k not in {"SECRET_KEY_BASE", "SECRET_TOKEN", "SECRET_KEY_BASE_DUMMY",
                          "RAILS_MASTER_KEY", "RAILS_ENV", "RACK_ENV"}}
    args = ["ruby", str(HARNESS), str(root)] + (["--credentials"] if credentials else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=120,
                            env={**clean, "RAILS_ENV": rails_env, **env})
    booted = json.loads(result.stdout) if result.returncode == 0 else None
    return result, booted


def test_production_refuses_to_boot_without_a_secret(rails_root):
    result, booted = boot(rails_root, "production", credentials=True)
    assert booted is None
    assert "SECRET_KEY_BASE is not set, so production refuses to boot" in result.stderr


def test_a_blank_secret_counts_as_missing(rails_root):
    result, booted = boot(rails_root, "production", SECRET_KEY_BASE="  ")
    assert booted is None
    assert "SECRET_KEY_BASE is not set" in result.stderr


def test_staging_environments_follow_the_production_rule(rails_root):
    result, booted = boot(rails_root, "staging")
    assert booted is None
    assert "so staging refuses to boot" in result.stderr


def test_production_signs_with_secret_key_base_over_credentials(rails_root):
    _, booted = boot(rails_root, "production", credentials=True, SECRET_KEY_BASE=SECRET)
    assert booted["credentials_secret"].startswith("from-credentials")
    assert booted["secret"] == SECRET
    assert booted["key_generator_agrees"]


def test_production_accepts_the_legacy_secret_token_over_credentials(rails_root):
    _, booted = boot(rails_root, "production", credentials=True, SECRET_TOKEN=LEGACY)
    assert booted["secret"] == LEGACY
    assert booted["key_generator_agrees"]


def test_without_the_initializer_credentials_would_win(rails_root):
    """The control for the test above: Rails alone ignores SECRET_TOKEN."""
    (rails_root / INITIALIZER).unlink()
    _, booted = boot(rails_root, "production", credentials=True, SECRET_TOKEN=LEGACY)
    assert booted["secret"].startswith("from-credentials")


def test_secret_key_base_dummy_boots_with_a_throwaway_secret(rails_root):
    _, first = boot(rails_root, "production", SECRET_KEY_BASE_DUMMY="1")
    _, second = boot(rails_root, "production", SECRET_KEY_BASE_DUMMY="1")
    assert len(first["secret"]) == 128 and first["secret"] != second["secret"]


@pytest.mark.parametrize("rails_env", ["development", "test"])
def test_development_and_test_get_a_local_secret(rails_root, rails_env):
    _, first = boot(rails_root, rails_env)
    _, second = boot(rails_root, rails_env)
    assert len(first["secret"]) >= 64
    assert first["secret"] == second["secret"], "the local secret must be stable across boots"
    _, from_env = boot(rails_root, rails_env, SECRET_KEY_BASE=SECRET)
    assert from_env["secret"] == SECRET, ".env's value (loaded by foreman) must be used"
