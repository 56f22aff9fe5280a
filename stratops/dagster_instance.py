"""The Dagster instance ``stratops research``/``run``/``ui`` use: its ``dagster.yaml``.

Embedded SQLite under ``dagster_home`` by default; PostgreSQL (``dagster-postgres``) when
``dagster_instance.storage`` is ``postgres``. The URL is never written to the file: the file
names the environment variable that holds it (Dagster's ``{env: VAR}`` source), and the
server is checked before a run starts, so an unreachable one is reported and nothing runs.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import yaml

from live.db import StoreUnavailableError, make_engine, normalise_url
from strategies.errors import BadInputError
from stratops.dagster_settings import DagsterInstanceSettings

#: The first line of a ``dagster.yaml`` this module wrote (and may therefore rewrite).
MANAGED_MARK = "# written by stratops from the dagster_instance settings; edits are replaced"


class DagsterInstanceError(BadInputError, ValueError):
    """An instance configuration that cannot be used (e.g. the URL variable is unset)."""


def instance_yaml(config: DagsterInstanceSettings) -> str:
    """The ``dagster.yaml`` text for ``config`` (no secret in it)."""
    doc: dict[str, object] = {"telemetry": {"enabled": False}}
    if config.storage == "postgres":
        doc["storage"] = {"postgres": {"postgres_url": {"env": config.postgres_url_env}}}
    # `stratops ui` backfills: at most max_concurrent partition runs at once
    doc["concurrency"] = {"runs": {"max_concurrent_runs": config.max_concurrent}}
    return f"{MANAGED_MARK}\n{yaml.safe_dump(doc, sort_keys=True)}"


def postgres_url(config: DagsterInstanceSettings) -> str:
    """The instance's PostgreSQL URL from its environment variable.

    Raises
    ------
    DagsterInstanceError
        The variable is unset or not a postgresql:// URL.
    """
    url = os.environ.get(config.postgres_url_env, "")
    if not re.match(r"^postgresql(\+psycopg2)?://", url):
        raise DagsterInstanceError(
            f"dagster_instance.storage is postgres, but ${config.postgres_url_env} is "
            f"{'unset' if not url else 'not a postgresql:// URL'}: export it (e.g. "
            f"{config.postgres_url_env}=postgresql://user:pass@host:5432/dagster)")
    return url


def prepare_instance(home: Path, config: DagsterInstanceSettings) -> Path:
    """Write ``home/dagster.yaml`` (unless a hand-written one is there) and, for PostgreSQL,
    check the server answers; return the file.

    Raises
    ------
    DagsterInstanceError
        PostgreSQL storage without a URL in its variable.
    StoreUnavailableError
        The PostgreSQL server cannot be reached: nothing ran, nothing was written there.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if config.storage == "postgres":
        if importlib.util.find_spec("dagster_postgres") is None:
            raise DagsterInstanceError(
                "dagster_instance.storage is postgres, but dagster-postgres is not installed "
                "(it is not in requirements.lock: README, Scale-out stores and deployment)")
        url = normalise_url(postgres_url(config))
        # Dagster reads the variable itself (in every step process): pin it to psycopg2 too
        os.environ[config.postgres_url_env] = url
        engine = make_engine(url, create=False, what="Dagster instance database",
                             hint="nothing was run; start PostgreSQL (or fix "
                                  f"${config.postgres_url_env}) and run the command again")
        engine.dispose()
    if not path.exists() or _managed(path):
        text = instance_yaml(config)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def _managed(path: Path) -> bool:
    """Ours to rewrite: written by this module, or the old telemetry-only default."""
    text = path.read_text()
    return text.startswith(MANAGED_MARK) or text == "telemetry:\n  enabled: false\n"


__all__ = ["DagsterInstanceError", "DagsterInstanceSettings", "StoreUnavailableError",
           "instance_yaml", "prepare_instance"]
