"""Run ``pip install`` for ``make setup`` and report progress one line at a time.

pip's own output for a 250-package lock is hundreds of lines during the download phase and
then minutes of silence while it installs. This wrapper prints instead: how many packages the
lock pins, how many have been collected, then how many are installed (counted from the
``.dist-info`` folders appearing in the venv) with the elapsed time, at most every few seconds.
pip's full output is shown only when it fails. Standard library only (it runs before anything
is installed). Exit status is pip's.

Usage: python tools/pip_progress.py --venv .venv --lock requirements.lock --label deps -- CMD...
"""

from __future__ import annotations

import argparse
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==", re.MULTILINE)
_COLLECT = re.compile(r"^\s*(?:Collecting|Processing|Obtaining)\s")
_INSTALL = re.compile(r"^\s*Installing collected packages")


def _elapsed(start: float) -> str:
    secs = int(time.monotonic() - start)
    return f"{secs // 60}m{secs % 60:02d}s" if secs >= 60 else f"{secs}s"


def _installed(venv: Path) -> int:
    return sum(1 for _ in venv.glob("lib/python3*/site-packages/*.dist-info"))


def _say(label: str, text: str) -> None:
    print(f"setup [{label}]: {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--lock", type=Path, default=None, help="lock file to count pins in")
    parser.add_argument("--label", default="pip")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between lines")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given after --")
    total = len(_PIN.findall(args.lock.read_text(encoding="utf-8"))) if args.lock else 0
    of_total = f"/{total}" if total else ""
    start = time.monotonic()
    before = _installed(args.venv)
    _say(args.label, f"{total} pinned packages in {args.lock}" if total else " ".join(cmd[-3:]))

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    collected, installing, last = 0, False, time.monotonic()
    while True:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            line = ""
        if line is None:
            break
        output.append(line)
        if _COLLECT.match(line):
            collected = min(collected + 1, total) if total else collected + 1
        if _INSTALL.match(line) and not installing:
            installing = True
            _say(args.label, f"collected {collected}{of_total}; installing ({_elapsed(start)})")
            last = time.monotonic()
        if time.monotonic() - last >= args.every:
            last = time.monotonic()
            if installing:
                done = _installed(args.venv) - before
                _say(args.label, f"installed {max(done, 0)}{of_total} ({_elapsed(start)})")
            else:
                _say(args.label, f"collected {collected}{of_total} ({_elapsed(start)})")
    code = proc.wait()
    if code != 0:
        sys.stdout.write("".join(output))
        _say(args.label, f"FAILED with exit {code} after {_elapsed(start)} (pip output above)")
        return code
    summary = next((x.strip() for x in reversed(output) if x.startswith("Successfully")), "")
    count = len(summary.split()) - 2 if summary else 0
    _say(args.label, f"done: {count} package(s) installed in {_elapsed(start)}"
         if summary else f"done: nothing to install ({_elapsed(start)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
