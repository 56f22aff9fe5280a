"""Lineage: the code revision (clean, dirty, no repo), source hash, tags and candidate key."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from pipelines.research.lineage import (
    CANDIDATE_FIELDS,
    Lineage,
    code_revision,
    strategies_source_hash,
)
from strategies.lineage import VersionLineage

LINEAGE = Lineage(
    strategy="ema_cross", dataset="nse_index_1m", dataset_md5="a" * 32, symbol="NIFTY",
    code_revision="b" * 40, strategies_source_hash="c" * 64, params_hash="d" * 16,
    params={"fast": 9, "slow": 21, "trend": 0}, feature_set_version="1", feature_key="e" * 16,
    gates_digest="f" * 64, verdict_digest="0" * 64, verdict_passed=False,
)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false",
         *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def test_code_revision_clean_repo_is_the_head_sha(repo: Path) -> None:
    assert code_revision(repo) == _git(repo, "rev-parse", "HEAD")


def test_code_revision_untracked_files_keep_it_clean(repo: Path) -> None:
    (repo / "new.py").write_text("y = 2\n")
    assert code_revision(repo) == _git(repo, "rev-parse", "HEAD")


def test_code_revision_modified_tracked_file_is_dirty_with_a_diff_hash(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "a.py").write_text("x = 2\n")
    first = code_revision(repo)
    assert re.fullmatch(rf"{head}\+dirty\.[0-9a-f]{{12}}", first)
    assert code_revision(repo) == first
    (repo / "a.py").write_text("x = 3\n")
    assert code_revision(repo) != first


def test_code_revision_staged_change_is_dirty(repo: Path) -> None:
    (repo / "a.py").write_text("x = 2\n")
    _git(repo, "add", "a.py")
    assert "+dirty." in code_revision(repo)


def test_code_revision_outside_a_repo_is_unknown(tmp_path: Path) -> None:
    assert code_revision(tmp_path) == "unknown"


def test_code_revision_missing_folder_is_unknown(tmp_path: Path) -> None:
    assert code_revision(tmp_path / "absent") == "unknown"


def test_code_revision_repo_without_commits_is_unknown(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    assert code_revision(tmp_path) == "unknown"


def _package(root: Path) -> Path:
    (root / "cost_schedules").mkdir(parents=True)
    (root / "a.py").write_text("A = 1\n")
    (root / "cost_schedules" / "nse.yaml").write_text("rate: 1\n")
    return root


def test_strategies_source_hash_follows_code_and_cost_schedules(tmp_path: Path) -> None:
    package = _package(tmp_path / "strategies")
    before = strategies_source_hash(package)
    (package / "README.md").write_text("not code\n")
    assert strategies_source_hash(package) == before
    (package / "cost_schedules" / "nse.yaml").write_text("rate: 2\n")
    after_yaml = strategies_source_hash(package)
    assert after_yaml != before
    (package / "a.py").write_text("A = 2\n")
    assert strategies_source_hash(package) not in (before, after_yaml)


def test_strategies_source_hash_of_the_package_is_stable() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", strategies_source_hash())
    assert strategies_source_hash() == strategies_source_hash()


def test_lineage_tags_are_prefixed_strings_with_the_verdict() -> None:
    tags = LINEAGE.tags()
    assert all(k.startswith("stratops.") and isinstance(v, str) for k, v in tags.items())
    assert tags["stratops.dataset_md5"] == "a" * 32
    assert tags["stratops.gate_verdict"] == "fail"
    assert dataclasses.replace(LINEAGE, verdict_passed=True).tags()["stratops.gate_verdict"] \
        == "pass"
    assert tags["stratops.params"] == '{"fast":9,"slow":21,"trend":0}'


@pytest.mark.parametrize("field", CANDIDATE_FIELDS)
def test_candidate_key_changes_with_each_defining_field(field: str) -> None:
    changed = dataclasses.replace(LINEAGE, **{field: getattr(LINEAGE, field) + "x"})
    assert changed.candidate_key() != LINEAGE.candidate_key()


def test_candidate_key_ignores_descriptive_fields() -> None:
    renamed = dataclasses.replace(LINEAGE, dataset="renamed", feature_set_version="2")
    assert renamed.candidate_key() == LINEAGE.candidate_key()
    assert re.fullmatch(r"[0-9a-f]{64}", LINEAGE.candidate_key())


def test_code_revision_reviewed_config_edit_is_not_a_code_change(repo: Path) -> None:
    (repo / "gates.yaml").write_text("version: 1\n")
    subprocess.run(["git", "add", "gates.yaml"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "g"],
                   cwd=repo, check=True)
    (repo / "gates.yaml").write_text("version: 2\n")
    assert "+dirty" not in code_revision(repo)


def test_version_lineage_reads_back_the_tags_lineage_wrote() -> None:
    tags = {**LINEAGE.tags(), "stratops.candidate_key": LINEAGE.candidate_key(),
            "stratops.model_digest": "d" * 64}
    read = VersionLineage.from_tags(tags)
    assert (read.symbol, read.dataset, read.params) == (
        LINEAGE.symbol, LINEAGE.dataset, tags["stratops.params"])
    assert read.passed is LINEAGE.verdict_passed
    assert read.missing() == []


def test_version_lineage_names_each_missing_tag() -> None:
    tags = {k: v for k, v in LINEAGE.tags().items() if k != "stratops.symbol"}
    assert VersionLineage.from_tags(tags).missing() == [
        "stratops.symbol", "stratops.candidate_key", "stratops.model_digest"]


@pytest.mark.parametrize("revision", ["abc+dirty.0123456789ab", "unknown"])
def test_version_lineage_uncommitted_revision_is_not_committed(revision: str) -> None:
    tags = {**LINEAGE.tags(), "stratops.code_revision": revision}
    assert not VersionLineage.from_tags(tags).committed
