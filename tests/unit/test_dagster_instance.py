"""The Dagster instance's ``dagster.yaml`` from the ``dagster_instance`` settings: SQLite by
default, PostgreSQL through an environment variable (never the URL in the file), refused
clearly when the URL is missing or the server unreachable, nothing written then."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import pytest
import yaml

from live.db import StoreUnavailableError
from stratops.dagster_instance import (
    MANAGED_MARK,
    DagsterInstanceError,
    DagsterInstanceSettings,
    instance_yaml,
    prepare_instance,
)
from stratops.research_fanout import STEP_PRELOAD, multiprocess_run_config
from stratops.settings import SettingsError, load_settings

PG = DagsterInstanceSettings(storage="postgres", postgres_url_env="T_DAGSTER_PG_URL")


def test_instance_default_is_sqlite_and_dagster_loads_it(tmp_path: Path) -> None:
    path = prepare_instance(tmp_path, DagsterInstanceSettings())
    assert "storage" not in yaml.safe_load(path.read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2


def test_instance_postgres_file_names_the_variable_not_the_url() -> None:
    doc = yaml.safe_load(instance_yaml(PG))
    assert doc["storage"] == {"postgres": {"postgres_url": {"env": "T_DAGSTER_PG_URL"}}}
    assert "postgresql://" not in instance_yaml(PG)


def test_instance_postgres_without_url_is_refused_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_DAGSTER_PG_URL", raising=False)
    with pytest.raises(DagsterInstanceError, match=r"\$T_DAGSTER_PG_URL is unset"):
        prepare_instance(tmp_path, PG)
    assert not (tmp_path / "dagster.yaml").exists()


def test_instance_postgres_unreachable_is_refused_and_nothing_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_DAGSTER_PG_URL", "postgresql://u:secret@127.0.0.1:1/dagster")
    with pytest.raises(StoreUnavailableError, match="nothing was run") as caught:
        prepare_instance(tmp_path, PG)
    assert "secret" not in str(caught.value)
    assert not (tmp_path / "dagster.yaml").exists()


def test_instance_hand_written_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    prepare_instance(tmp_path, DagsterInstanceSettings())
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


def test_instance_old_default_file_is_upgraded(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_instance(tmp_path, DagsterInstanceSettings(max_concurrent=3))
    assert (tmp_path / "dagster.yaml").read_text().startswith(MANAGED_MARK)


@pytest.mark.parametrize(("text", "field"), [
    ("dagster_instance:\n  max_concurrent: 0\n", "dagster_instance.max_concurrent"),
    ("dagster_instance:\n  storage: mysql\n", "dagster_instance.storage"),
    ("dagster_instance:\n  threads: 2\n", "dagster_instance.threads"),
    ("offhost_checkpoints:\n  url: http://x\n", "offhost_checkpoints.url"),
])
def test_settings_bad_instance_keys_are_refused_naming_the_field(
        tmp_path: Path, text: str, field: str) -> None:
    (tmp_path / "stratops.yaml").write_text(text)
    with pytest.raises(SettingsError, match=field):
        load_settings(tmp_path)


def test_multiprocess_run_config_selects_the_executor_with_max_concurrent() -> None:
    config = multiprocess_run_config({"loggers": {}}, DagsterInstanceSettings(
        executor="multiprocess", max_concurrent=3, start_method="spawn"))
    assert config["execution"] == {"config": {"multiprocess": {
        "max_concurrent": 3, "start_method": {"spawn": {}}}}}
    assert config["loggers"] == {}


def test_multiprocess_run_config_forks_steps_from_a_preloaded_server_by_default() -> None:
    config = multiprocess_run_config({}, DagsterInstanceSettings(executor="multiprocess"))
    start = config["execution"]["config"]["multiprocess"]["start_method"]
    assert start == {"forkserver": {"preload_modules": list(STEP_PRELOAD)}}
    assert "stratops.research_fanout" in STEP_PRELOAD  # the reconstructable job's module


def test_step_preload_names_only_importable_modules() -> None:
    for name in STEP_PRELOAD:  # a typo would make the forkserver skip it silently
        assert importlib.util.find_spec(name) is not None, name
