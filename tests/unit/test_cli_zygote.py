"""The walk-throughs' ``stratops`` shim (tests/cli_zygote.py): a forked command behaves as
the entry script run in the caller's place would, or the entry script runs."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import cli_zygote

#: A stand-in ``stratops`` package, first on PYTHONPATH: what the child sees and does.
FAKE_CLI = '''
import os, sys, time
def main():
    if sys.argv[1:] == ["sleep"]:
        open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
        time.sleep(60)
    print("cwd", os.getcwd())
    print("env", os.environ.get("ZYGOTE_PROBE"))
    print("argv", sys.argv[1:])
    print("stdin", sys.stdin.read().strip())
    print("main", sys.modules["__main__"].__file__)
    print("oops", file=sys.stderr)
    return int(sys.argv[1]) if sys.argv[1:2] and sys.argv[1].isdigit() else 0
'''


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("z")
    real = folder / "real-stratops"
    real.write_text("#!/bin/sh\necho real \"$@\"\nexit 7\n")
    real.chmod(0o755)
    socket_path = f"/tmp/stratops-zygote-test-{os.getpid()}"
    proc = cli_zygote.start(socket_path, preload=())
    cli_zygote.write_shim(folder / "stratops", socket_path, real)
    yield folder
    proc.kill()
    proc.wait()
    os.unlink(socket_path)


def _project(tmp_path: Path) -> Path:
    (tmp_path / "stratops").mkdir(parents=True)
    (tmp_path / "stratops" / "__init__.py").write_text("")
    (tmp_path / "stratops" / "cli.py").write_text(FAKE_CLI)
    return tmp_path


def _run(shim: Path, project: Path, *args: str, cwd: Path,
         stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project), "ZYGOTE_PROBE": "from-caller"}
    return subprocess.run([str(shim), *args], cwd=cwd, env=env, input=stdin, text=True,
                          capture_output=True, timeout=60, check=False)


def test_shim_runs_the_command_in_the_callers_place(zygote: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    work = tmp_path / "w"
    work.mkdir()
    proc = _run(zygote / "stratops", project, "a b", "--x", cwd=work, stdin="hello")
    assert proc.returncode == 0, proc.stderr
    assert f"cwd {work}" in proc.stdout
    assert "env from-caller" in proc.stdout
    assert "argv ['a b', '--x']" in proc.stdout
    assert "stdin hello" in proc.stdout
    assert f"main {zygote / 'real-stratops'}" in proc.stdout
    assert proc.stderr.strip() == "oops"


def test_shim_exits_with_the_commands_code(zygote: Path, tmp_path: Path) -> None:
    proc = _run(zygote / "stratops", _project(tmp_path), "3", cwd=tmp_path)
    assert proc.returncode == 3


def test_shim_reports_an_uncaught_exception_as_exit_1(zygote: Path, tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "stratops" / "cli.py").write_text("def main():\n    raise ValueError('bad')\n")
    proc = _run(zygote / "stratops", project, cwd=tmp_path)
    assert proc.returncode == 1
    assert "ValueError: bad" in proc.stderr


def test_shim_without_its_zygote_runs_the_entry_script(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("#!/bin/sh\necho real \"$@\"\nexit 7\n")
    real.chmod(0o755)
    cli_zygote.write_shim(tmp_path / "stratops", str(tmp_path / "no-socket"), real)
    proc = _run(tmp_path / "stratops", tmp_path, "x", cwd=tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (7, "real x")


def test_killed_caller_takes_its_command_with_it(zygote: Path, tmp_path: Path) -> None:
    project = _project(tmp_path)
    pidfile = tmp_path / "pid"
    env = {**os.environ, "PYTHONPATH": str(project), "PIDFILE": str(pidfile)}
    caller = subprocess.Popen([str(zygote / "stratops"), "sleep"], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    command = int(pidfile.read_text())
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    while time.monotonic() < deadline:
        try:
            os.kill(command, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"the command {command} outlived its caller")


def test_zygote_refuses_a_preload_that_imports_project_code(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(Path(cli_zygote.__file__)),
                           str(tmp_path / "s"), "stratops.cli"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "imported project modules" in proc.stderr


def test_command_exits_as_the_interpreter_does_its_sqlite_wal_checkpointed(
        zygote: Path, tmp_path: Path) -> None:
    """A README step copies a database file alone after a command: the command's connection,
    left open, is finalised at exit and its WAL folded into the file, as in a real process."""
    project = _project(tmp_path)
    (project / "stratops" / "cli.py").write_text(
        "import sqlite3\nKEEP = []\ndef main():\n"
        "    conn = sqlite3.connect('db.sqlite')\n"
        "    conn.execute('pragma journal_mode=wal')\n"
        "    conn.execute('create table t (x)')\n"
        "    conn.execute('insert into t values (42)')\n"
        "    conn.commit()\n    KEEP.append(conn)\n    return 0\n")
    proc = _run(zygote / "stratops", project, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "db.sqlite-wal").exists()
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes((tmp_path / "db.sqlite").read_bytes())
    conn = sqlite3.connect(copy)
    assert conn.execute("select x from t").fetchall() == [(42,)]
    conn.close()
