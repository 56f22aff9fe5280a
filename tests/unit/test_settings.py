"""Typed settings from stratops.yaml and STRATOPS_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratops.settings import SettingsError, find_root, load_settings


def _project(tmp_path: Path, yaml_text: str | None = None) -> Path:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    if yaml_text is not None:
        (tmp_path / "stratops.yaml").write_text(yaml_text)
    return tmp_path


def test_load_settings_without_file_uses_defaults(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path))
    assert settings.data.import_max_bytes == 2**30
    assert settings.mlflow_tracking_uri == "sqlite:///mlflow/mlflow.db"


def test_load_settings_reads_file_values(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path, "validation:\n  min_session_completeness: 0.5\n"))
    assert settings.validation.min_session_completeness == 0.5


def test_load_settings_environment_beats_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_DATA__IMPORT_MAX_BYTES", "1234")
    settings = load_settings(_project(tmp_path, "data:\n  import_max_bytes: 99\n"))
    assert settings.data.import_max_bytes == 1234


def test_load_settings_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"stratops.yaml: data.import_max_byte"):
        load_settings(_project(tmp_path, "data:\n  import_max_byte: 5\n"))


def test_load_settings_out_of_range_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"min_session_completeness.*1.5"):
        load_settings(_project(tmp_path, "validation:\n  min_session_completeness: 1.5\n"))


def test_load_settings_invalid_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(_project(tmp_path, "data: [unclosed\n"))


def test_find_root_walks_up_from_subfolder(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATOPS_ROOT", raising=False)
    root = _project(tmp_path)
    sub = root / "a" / "b"
    sub.mkdir(parents=True)
    assert find_root(sub) == root


def test_find_root_outside_project_names_the_fix(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATOPS_ROOT", raising=False)
    with pytest.raises(SettingsError, match="STRATOPS_ROOT"):
        find_root(tmp_path)


def test_load_settings_postgres_journal_shared_by_every_mode_is_refused(
        tmp_path: Path) -> None:
    text = "live:\n  journal_url: postgresql://127.0.0.1/stratops_journal\n"
    with pytest.raises(SettingsError, match=r"must contain \{mode\}"):
        load_settings(_project(tmp_path, text))


def test_load_settings_postgres_journal_per_mode_is_accepted(tmp_path: Path) -> None:
    text = "live:\n  journal_url: postgresql://127.0.0.1/stratops_journal_{mode}\n"
    assert "{mode}" in load_settings(_project(tmp_path, text)).live.journal_url

def test_settings_checkpoint_every_above_the_marks_a_checkpoint_keeps_is_refused(
        tmp_path: Path) -> None:
    (tmp_path / "stratops.yaml").write_text("live:\n  checkpoint_every: 20000\n")
    with pytest.raises(SettingsError, match="checkpoint_every"):
        load_settings(tmp_path)
