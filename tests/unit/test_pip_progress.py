"""The progress lines of ``make setup`` (``.github/scripts/pip_progress.py``) and pip's exit
status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / ".github" / "scripts" / "pip_progress.py"
LOCK = "alpha==1.0 \\\n    --hash=sha256:00\nbeta==2.0 \\\n    --hash=sha256:11\n"


def _run(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    lock = tmp_path / "req.lock"
    lock.write_text(LOCK)
    return subprocess.run(
        [sys.executable, str(TOOL), "--venv", str(tmp_path / "venv"), "--lock", str(lock),
         "--label", "deps", "--", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=60)


def test_pip_progress_success_prints_counts_not_pip_output(tmp_path: Path) -> None:
    proc = _run(tmp_path, "print('Collecting alpha==1.0'); print('Collecting beta==2.0'); "
                          "print('Installing collected packages: alpha, beta'); "
                          "print('Successfully installed alpha-1.0 beta-2.0')")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("setup [deps]: 2 pinned packages in ")
    assert lines[1].startswith("setup [deps]: collected 2/2; installing (")
    assert lines[-1].startswith("setup [deps]: done: 2 package(s) installed in ")
    assert "Collecting" not in proc.stdout


def test_pip_progress_failure_shows_pip_output_and_its_exit_code(tmp_path: Path) -> None:
    proc = _run(tmp_path, "import sys; print('ERROR: hash mismatch for alpha'); sys.exit(3)")
    assert proc.returncode == 3
    assert "ERROR: hash mismatch for alpha" in proc.stdout
    assert "setup [deps]: FAILED with exit 3" in proc.stdout
