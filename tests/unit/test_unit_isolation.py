"""Unit tests run on a fresh clone without ``dvc repro`` and without servers: no unit test
may read a file a DVC stage writes under the repository's ``data/`` (build it in a fixture
instead, e.g. ``tests/synthetic_datasets.py``, or move the test to ``tests/integration``),
carry an ``integration``, ``services`` or ``acceptance`` marker or import from those folders.

A static check of the usual spellings of "the repository's data folder"; the real proof is
running ``tests/unit`` with ``data/datasets`` and ``data/labels`` moved aside (README, Tests).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

UNIT = Path(__file__).resolve().parent
REPO_ROOT = UNIT.parents[1]
# The repository root joined with "data": a module constant, the repo_root fixture or
# Path(__file__).parents[N]; a tmp project's ``root / "data"`` is fine.
REPO_DATA = re.compile(r"\b(REPO_ROOT|ROOT|REPO|repo_root|parents\[\d\])\s*/\s*[\"']data\b")


def _dvc_outputs() -> list[str]:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    return [out for stage in stages.values() for out in stage.get("outs", [])]


def test_dvc_yaml_outputs_are_all_under_data() -> None:
    outputs = _dvc_outputs()
    assert outputs and all(out.startswith("data/") for out in outputs)


def test_repo_data_pattern_matches_the_spellings_it_guards_against() -> None:
    for line in ('read_dataset(ROOT / "data/datasets/x.parquet")',
                 'Path(__file__).resolve().parents[2] / "data" / "datasets"',
                 'repo_root / "data" / "labels"'):
        assert REPO_DATA.search(line), line
    assert not REPO_DATA.search('datasets = root / "data" / "datasets"')


@pytest.mark.parametrize("path", sorted(UNIT.glob("*.py")), ids=lambda p: p.name)
def test_unit_test_reads_nothing_from_the_repository_data_folder(path: Path) -> None:
    source = path.read_text()
    if path == Path(__file__):
        source = source.split("def test_repo_data_pattern", 1)[0]
    hits = [f"{path.name}:{n}: {line.strip()}" for n, line in
            enumerate(source.splitlines(), 1) if REPO_DATA.search(line)]
    named = [out for out in _dvc_outputs() if out in source]
    assert not hits and not named, hits + named


SERVER_OR_SLOW = re.compile(r"mark\.(integration|services|acceptance)\b"
                            r"|\btests\.(integration|acceptance)\b")


@pytest.mark.parametrize("path", sorted(UNIT.glob("test_*.py")), ids=lambda p: p.name)
def test_unit_test_needs_no_server_and_no_integration_fixture(path: Path) -> None:
    source = path.read_text()
    if path == Path(__file__):
        source = source.split("SERVER_OR_SLOW = ", 1)[0]
    hits = [f"{path.name}:{n}: {line.strip()}" for n, line in
            enumerate(source.splitlines(), 1) if SERVER_OR_SLOW.search(line)]
    assert not hits, hits
