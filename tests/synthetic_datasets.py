"""The synthetic NSE minute dataset exactly as ``dvc repro`` builds it, made in process.

Unit tests must run on a fresh clone without ``dvc repro``. The ``nse_synthetic`` stage is a
seeded generator (under a second for the year), so instead of reading its DVC output a test
runs the stage's own command line - read from ``dvc.yaml``, so seed and dates cannot drift -
into a temporary folder, once per process. The files are byte-identical to the DVC outputs
(``tests/unit/test_synthetic_datasets.py`` compares their md5 with ``dvc.lock``).
"""

from __future__ import annotations

import atexit
import functools
import shlex
import shutil
import tempfile
from pathlib import Path

import yaml

from pipelines.datasets import synthetic_nse

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGE = "nse_synthetic"
MODULE = "pipelines.datasets.synthetic_nse"


def stage_arguments(out: Path, regimes_out: Path) -> list[str]:
    """The ``nse_synthetic`` stage's arguments from ``dvc.yaml``, writing to other paths."""
    stage = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"][STAGE]
    words = shlex.split(stage["cmd"])
    if words[:3] != ["python", "-m", MODULE]:
        raise AssertionError(f"dvc.yaml stage {STAGE} no longer runs {MODULE}: {stage['cmd']}")
    args, outputs = words[3:], {"--out": out, "--regimes-out": regimes_out}
    for flag, path in outputs.items():
        args[args.index(flag) + 1] = str(path)
    return args


@functools.cache
def _built() -> tuple[Path, Path]:
    folder = Path(tempfile.mkdtemp(prefix="stratops-synthetic-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    bars = folder / "datasets" / "nse_index_1m.parquet"
    regimes = folder / "labels" / "nse_index_1m_regimes.parquet"
    for path in (bars, regimes):
        path.parent.mkdir(parents=True)
    synthetic_nse.main(stage_arguments(bars, regimes))
    return bars, regimes


def nse_index_1m_path() -> Path:
    """``data/datasets/nse_index_1m.parquet`` as the DVC stage writes it (a temporary copy)."""
    return _built()[0]


def nse_index_1m_regimes_path() -> Path:
    """``data/labels/nse_index_1m_regimes.parquet`` as the DVC stage writes it."""
    return _built()[1]
