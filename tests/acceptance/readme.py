"""The README's walk-throughs as data: marked ``bash`` blocks split into commands and outputs.

A block is marked by an HTML comment on the line above its fence::

    <!-- acceptance: promotion -->
    ```bash
    stratops promote approve R3 --as alice
    #   promotion_approve refused: user 'alice' has roles ['quant']; ... (audited)
    ```

Each command (a line, its ``\\`` continuations and any here-document) is followed by the
``#   `` comment lines that show what it prints. An expected line containing ``refused`` or
``(exit N)`` means the command must fail; ``...`` and ``[...]`` stand for omitted text.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_MARK = re.compile(r"^\s*<!--\s*acceptance:\s*([\w-]+)\s*-->\s*$")
_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")
_EXIT = re.compile(r"\(exit (\d+)\)\s*$")


@dataclass
class Step:
    """One command of a walk-through and the output lines the README shows for it."""

    command: str
    expected: list[str] = field(default_factory=list)

    @property
    def must_fail(self) -> bool:
        return any("refused" in line or _EXIT.search(line) for line in self.expected)

    @property
    def exit_code(self) -> int | None:
        for line in self.expected:
            found = _EXIT.search(line)
            if found:
                return int(found.group(1))
        return None


def walkthroughs(readme: Path) -> dict[str, list[Step]]:
    """Every marked block of ``readme`` by name (a name used twice continues its walk-through)."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    found: dict[str, list[Step]] = {}
    i = 0
    while i < len(lines):
        mark = _MARK.match(lines[i])
        if mark is None:
            i += 1
            continue
        fence = lines[i + 1].strip()
        if fence != "```bash":
            raise ValueError(f"README line {i + 2}: an acceptance mark must precede ```bash")
        end = i + 2
        while lines[end].strip() != "```":
            end += 1
        indent = len(lines[i + 1]) - len(lines[i + 1].lstrip())
        body = [line[indent:] if line[:indent].isspace() else line for line in lines[i + 2:end]]
        found.setdefault(mark.group(1), []).extend(_steps(body))
        i = end + 1
    return found


def _steps(body: list[str]) -> list[Step]:
    steps: list[Step] = []
    i = 0
    while i < len(body):
        line = body[i]
        i += 1
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("#   ") and steps:
                steps[-1].expected.append(line[4:].strip())
            continue
        command = [line]
        while command[-1].rstrip().endswith("\\") and i < len(body):
            command.append(body[i])
            i += 1
        heredoc = _HEREDOC.search(line)
        if heredoc is not None:
            while i < len(body):
                command.append(body[i])
                i += 1
                if command[-1].strip() == heredoc.group(1):
                    break
        steps.append(Step("\n".join(command)))
    return steps


def fragments(expected: str) -> list[str]:
    """The literal pieces of one expected line, in order (``...``, ``[...]``, ``(exit N)``
    dropped), without whitespace."""
    text = _EXIT.sub("", expected).strip()
    pieces = re.split(r"\[\.\.\.\]|\.\.\.", text)
    return ["".join(p.split()) for p in pieces if p.strip()]


def shows(output: str, expected: str) -> bool:
    """Whether ``output`` contains the expected line's pieces, in order. Whitespace is
    ignored: the terminal wraps long lines anywhere, paths included."""
    flat = "".join(output.split())
    pos = 0
    for piece in fragments(expected):
        at = flat.find(piece, pos)
        if at < 0:
            return False
        pos = at + len(piece)
    return True


@dataclass
class Shell:
    """A bash session over separate processes: exports carry over from one command to the
    next (kept in ``state``, outside the project), each command runs in ``root``."""

    root: Path
    state: Path
    env: dict[str, str]

    def run(self, command: str, timeout: float = 900) -> tuple[int, str]:
        """Run one walk-through command as the README shows it; its exit code and output."""
        saved = shlex.quote(str(self.state / "env"))
        script = (f"cd {shlex.quote(str(self.root))}\n"
                  f"[ -f {saved} ] && . {saved}\n"
                  f"{command}\n"
                  "rc=$?\n"
                  f"export -p > {saved}\n"
                  "exit $rc\n")
        self.state.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["bash", "-c", script], env=self.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)
        return proc.returncode, proc.stdout
