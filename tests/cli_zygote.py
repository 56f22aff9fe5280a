"""A warm process that runs ``stratops`` commands for the walk-through tests, each in a fork.

A ``stratops`` command spends most of its 1.5-5 s importing MLflow, pandas, numba, Great
Expectations and the rest before it does anything. The README walk-throughs run about 90 of
them. This zygote imports those third-party packages once, then forks a child per command:
the child gets the caller's stdin, stdout and stderr (passed over a Unix socket), working
directory, environment, ``sys.path`` from its ``PYTHONPATH`` and ``argv``, imports the
project's code itself (the zygote never imports it, so each command reads the code and the
settings of the copy it runs in) and exits like the real entry script, exit code included.

The caller side is :func:`write_shim`: a ``stratops`` script that sends the command to the
zygote and waits for its exit status, or, when the zygote does not answer, execs the real
entry script. The real entry script is what ``make demo`` runs (``demo_project``); this
only changes how fast the walk-throughs' commands start, not what they do.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import gc
import importlib
import io
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from pathlib import Path
from typing import NoReturn

#: Imported once in the zygote: third-party only (see the module docstring).
PRELOAD = ("numpy", "pandas", "numba", "mlflow", "mlflow.store.tracking.sqlalchemy_store",
           "mlflow.store.model_registry.sqlalchemy_store", "sklearn", "vectorbt", "dagster",
           "great_expectations", "typer", "rich", "yaml", "pydantic", "sqlalchemy")
#: The project's own packages: never imported by the zygote itself.
PROJECT = ("stratops", "live", "pipelines", "strategies", "tests", "benchmarks")
_HEADER = 8
NUMBA_SET_BY_STRATEGIES = ("NUMBA_CACHE_DIR", "NUMBA_CACHE_LOCATOR_CLASSES")


def _preload(names: tuple[str, ...]) -> None:
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    leaked = sorted(m for m in sys.modules if m.split(".", 1)[0] in PROJECT)
    if leaked:
        raise RuntimeError(f"cli zygote: preload imported project modules {leaked[:5]}")
    if threading.active_count() != 1:
        raise RuntimeError("cli zygote: preload started threads; forking would be unsafe")


def _receive(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    """One request: a length-prefixed JSON document and the caller's three descriptors."""
    data, fds = b"", []
    while len(data) < _HEADER or len(data) < _HEADER + int.from_bytes(data[:_HEADER], "big"):
        chunk, ancillary, _flags, _addr = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * 4))
        if not chunk:
            raise EOFError("cli zygote: the caller hung up mid-request")
        data += chunk
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
                fds.extend(got)
    size = int.from_bytes(data[:_HEADER], "big")
    return json.loads(data[_HEADER:_HEADER + size]), fds


def _run_command(request: dict[str, object], fds: list[int], base_path: list[str]
                 ) -> NoReturn:
    """In the forked child: become the caller's ``stratops`` process and run it."""
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_IGN if signum == signal.SIGPIPE else signal.SIG_DFL)
    env = request["env"]
    argv = request["argv"]
    assert isinstance(env, dict) and isinstance(argv, list)
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.path.dirname(str(argv[0])), *extra, *base_path]
    sys.argv = [str(a) for a in argv]
    entry = types.ModuleType("__main__")  # as the entry script's: multiprocessing reads it
    entry.__file__ = str(request["script"])
    sys.modules["__main__"] = entry
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  line_buffering=os.isatty(1), write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()  # a fresh process seeds its own global state
    failure: BaseException | None = None
    try:
        from stratops.cli import main

        sys.exit(main())
    except BaseException as exc:  # what the interpreter does with it follows
        failure = exc
    code = _exit_code(failure)
    _exit_as_the_interpreter(code)


def _exit_code(exc: BaseException | None) -> int:
    """The status the interpreter exits with after ``exc`` (``None``: returned normally),
    printing what it would print."""
    if isinstance(exc, SystemExit):
        if exc.code is None or isinstance(exc.code, int):
            return (exc.code or 0) & 0xFF
        print(exc.code, file=sys.stderr)
        return 1
    if exc is None:
        return 0
    if isinstance(exc, KeyboardInterrupt):
        return 130
    traceback.print_exception(exc)
    return 1


def _exit_as_the_interpreter(code: int) -> NoReturn:
    """Threads joined and atexit run as at a normal exit, and every open SQLite connection
    closed (its WAL checkpointed into the file, as a README step copying a database file
    expects), then out without tearing down every module the zygote loaded (a full
    finalisation took longer than the command itself)."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]  # the interpreter's own first step
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    gc.unfreeze()  # a frozen object (live.runner.preload) is invisible to the sweep below
    gc.collect()  # what only a cycle kept alive is finalised, connections included
    for obj in gc.get_objects():
        if isinstance(obj, sqlite3.Connection):
            with contextlib.suppress(BaseException):
                obj.close()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def _handle(conn: socket.socket, base_path: list[str]) -> None:
    """In a forked handler: start the command's process, report its status, exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        request, fds = _receive(conn)
    except (EOFError, ValueError, OSError):
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_command(request, fds, base_path)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    while True:
        ready, _w, _x = select.select([conn, pidfd], [], [])
        if pidfd in ready:
            break
        if not conn.recv(1):  # the caller went away: so does its command
            os.kill(pid, signal.SIGTERM)
            break
    _pid, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(OSError):
        conn.sendall(str(code if code >= 0 else 128 - code).encode())
    os._exit(0)


def serve(path: str, preload: tuple[str, ...] = PRELOAD) -> None:
    """Preload, listen on ``path``, fork a handler per connection until killed."""
    _preload(preload)
    base_path = [p for p in sys.path[1:]
                 if p not in os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    print("ready", flush=True)
    while True:
        conn, _addr = server.accept()
        if os.fork() == 0:
            server.close()
            _handle(conn, base_path)
        conn.close()


_SHIM = '''#!{python} -IS
"""stratops through the test zygote (tests/cli_zygote.py), the real script when it is gone."""
import array, json, os, socket, sys
payload = json.dumps({{"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
                      "script": {real!r}}}).encode()
try:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect({socket_path!r})
    conn.sendmsg([len(payload).to_bytes(8, "big") + payload],
                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
except OSError:
    os.execv({real!r}, [{real!r}, *sys.argv[1:]])
answer = b""
while True:
    chunk = conn.recv(16)
    if not chunk:
        break
    answer += chunk
sys.exit(int(answer) if answer else 1)
'''


def write_shim(dest: Path, socket_path: str, real: Path) -> None:
    """A ``stratops`` executable at ``dest`` that runs its command in the zygote."""
    dest.write_text(_SHIM.format(python=sys.executable, socket_path=socket_path,
                                 real=str(real)), encoding="utf-8")
    dest.chmod(0o755)


def start(socket_path: str, preload: tuple[str, ...] = PRELOAD,
          timeout: float = 120.0) -> subprocess.Popen[str]:
    """Start a zygote listening on ``socket_path`` that imports ``preload``; returns once it
    is ready."""
    # Run as a file, as the entry script is (``python -m`` would show in the usage lines).
    # ``import strategies`` points numba's cache at its own folder through these, set in
    # this (test) process: the zygote must not import the package for numba; a command
    # that imports it sets them on the imported numba itself (strategies/__init__.py).
    env = {k: v for k, v in os.environ.items() if k not in NUMBA_SET_BY_STRATEGIES}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), socket_path,
                             ",".join(preload)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    ready, _w, _x = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
    if not ready or proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("cli zygote did not start")
    return proc


_STARTED: dict[str, Path] = {}


def shim() -> Path:
    """This process's ``stratops`` shim, its zygote started on first use and killed at exit
    (one per pytest-xdist worker, shared by the tests it runs)."""
    if "shim" not in _STARTED:
        folder = Path(tempfile.mkdtemp(prefix="stratops-zygote-"))  # a socket path is <108 B
        proc = start(str(folder / "socket"))
        atexit.register(_stop, proc, folder)
        write_shim(folder / "stratops", str(folder / "socket"),
                   Path(sys.executable).parent / "stratops")
        _STARTED["shim"] = folder / "stratops"
    return _STARTED["shim"]


def _stop(proc: subprocess.Popen[str], folder: Path) -> None:
    proc.kill()
    proc.wait()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1], tuple(n for n in sys.argv[2].split(",") if n))
