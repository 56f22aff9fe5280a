"""GX imported with its unused heavy dependencies deferred: they are not executed by the
import, and still work as usual at their first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from pipelines.datasets.gx_import import DEFERRED_MODULES, import_gx
gx = import_gx()
pending = {name: type(sys.modules[name]).__name__ for name in DEFERRED_MODULES}
from scipy.stats import norm
print(json.dumps({"pending": pending, "cdf": float(norm.cdf(0.0)),
                  "context": type(gx.get_context(mode="ephemeral")).__name__,
                  "gc": __import__("gc").isenabled()}))
"""


def test_import_gx_defers_unused_modules_until_first_use() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=300,
                          check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["pending"] == {"scipy.stats": "_LazyModule", "altair": "_LazyModule"}
    assert out["cdf"] == 0.5  # scipy.stats loaded at its first use
    assert out["context"] == "EphemeralDataContext"
    assert out["gc"] is True  # the collector is back on after the import
