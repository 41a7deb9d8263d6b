"""Configuration from the environment, the Heroku way.

Written by copier-heroku; `copier update` keeps it current, so keep app settings elsewhere.
Staging is production with different config vars: both run the production configuration,
and the stage comes from APP_STAGE, never from a debug flag.
"""

from __future__ import annotations

import os
import secrets

LOCAL_STAGES = frozenset({"development", "test"})


class MissingSecret(RuntimeError):
    """Production-like stages refuse to boot without SECRET_KEY."""


def app_stage() -> str:
    # Unset counts as production: a forgotten config var must never turn debug on.
    return os.environ.get("APP_STAGE", "").strip() or "production"


def is_local() -> bool:
    return app_stage() in LOCAL_STAGES


def secret_key() -> str:
    value = os.environ.get("SECRET_KEY", "").strip()
    if value:
        return value
    if is_local():
        # .env holds a stable key (bin/dev loads it); without one, a throwaway key that
        # lasts as long as the process.
        return secrets.token_hex(32)
    raise MissingSecret(
        f"SECRET_KEY is not set, so {app_stage()} refuses to boot. Set it on the app "
        "(bin/heroku-setup does, or: heroku config:set SECRET_KEY=\"$(python3 -c "
        "'import secrets; print(secrets.token_hex(50))')\" -a APP)."
    )


def allowed_hosts() -> list[str]:
    default = "localhost,127.0.0.1,[::1]" if is_local() else ""
    hosts = os.environ.get("ALLOWED_HOSTS", default)
    return [host.strip() for host in hosts.split(",") if host.strip()]


def int_setting(name: str, default: int) -> int:
    return int(os.environ.get(name, "").strip() or default)
