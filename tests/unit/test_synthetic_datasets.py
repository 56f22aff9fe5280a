"""The unit tests' in-process synthetic NSE dataset is the DVC output itself: its md5 equals
the one ``dvc.lock`` (committed) records, so no unit test needs ``dvc repro``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipelines.datasets.catalog import file_md5
from tests.synthetic_datasets import (
    REPO_ROOT,
    STAGE,
    nse_index_1m_path,
    nse_index_1m_regimes_path,
    stage_arguments,
)


def _locked_md5(out: str) -> str:
    lock = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for s in lock["stages"].values() for o in s["outs"]}[out]


# The stage's outputs in dvc.yaml order: the bars, then the regime labels.
OUTS = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"][STAGE]["outs"]


@pytest.mark.parametrize(("built", "out"), [(nse_index_1m_path, OUTS[0]),
                                            (nse_index_1m_regimes_path, OUTS[1])])
def test_in_process_build_has_the_md5_dvc_lock_records(built: Callable[[], Path],
                                                     out: str) -> None:
    assert file_md5(built()) == _locked_md5(out)


def test_stage_arguments_keep_the_seed_and_dates_and_replace_only_the_outputs() -> None:
    args = stage_arguments(Path("/x/bars.parquet"), Path("/x/regimes.parquet"))
    assert args[args.index("--out") + 1] == "/x/bars.parquet"
    assert args[args.index("--regimes-out") + 1] == "/x/regimes.parquet"
    assert {"--seed", "--start", "--end"} <= set(args)
    assert not any(a.startswith("data/") for a in args)
