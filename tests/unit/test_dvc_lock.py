"""``dvc.lock`` is current: it records the md5 of every stage dependency as committed and
each stage's command as ``dvc.yaml`` has it. Edit a file a stage depends on and run
``dvc repro`` (outputs stay byte-identical when only code moved), or a fresh clone's
``dvc repro`` rewrites ``dvc.lock``, the checkout reads as dirty and registered versions
carry a ``+dirty`` code revision that promotion refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text())["stages"]
STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
DEPS = [(stage, dep["path"], dep["md5"]) for stage, body in LOCK.items()
        for dep in body["deps"]]


@pytest.mark.parametrize(("stage", "path", "md5"), DEPS, ids=[f"{s}:{p}" for s, p, _ in DEPS])
def test_dvc_lock_records_the_current_md5_of_each_dependency(stage: str, path: str,
                                                             md5: str) -> None:
    digest = hashlib.md5((REPO_ROOT / path).read_bytes()).hexdigest()
    assert digest == md5, f"{path} changed since dvc.lock ({stage}): run dvc repro"


def test_dvc_lock_has_every_stage_with_its_command_and_dependencies() -> None:
    assert set(LOCK) == set(STAGES)
    for name, stage in STAGES.items():
        assert " ".join(LOCK[name]["cmd"].split()) == " ".join(stage["cmd"].split()), name
        assert {d["path"] for d in LOCK[name]["deps"]} == set(stage["deps"]), name
