"""The README's walk-throughs, run verbatim in a fresh copy of the project after ``make demo``.

The commands are read from the README's blocks marked ``<!-- acceptance: NAME -->``, so a
walk-through that stops working, or whose shown output no longer matches, fails here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.conftest import shipped_bytes
from tests.acceptance.readme import Shell, Step, shows, walkthroughs

README = Path(__file__).resolve().parents[2] / "README.md"
WALKTHROUGHS = ("promotion", "protective-exits", "signed-checkpoints", "crash-recover")

pytestmark = [pytest.mark.integration, pytest.mark.acceptance]


def _follow(shell: Shell, steps: list[Step]) -> list[str]:
    """Run every step; the failures, each with the command and what it printed."""
    failures: list[str] = []
    for step in steps:
        started = time.monotonic()
        rc, out = shell.run(step.command)
        took = time.monotonic() - started
        problems = []
        if step.must_fail and rc == 0:
            problems.append("the README shows a refusal, but it exited 0")
        elif not step.must_fail and rc != 0:
            problems.append(f"exited {rc}")
        if step.exit_code is not None and rc != step.exit_code:
            problems.append(f"exit {rc}, the README says (exit {step.exit_code})")
        problems += [f"does not print: {line}" for line in step.expected if not shows(out, line)]
        if problems:
            failures.append(f"$ {step.command}\n  ({took:.1f} s) " + "; ".join(problems)
                            + "\n" + out[-4000:])
            if rc != 0 and not step.must_fail:
                break  # set -e: what follows depends on it
    return failures


def test_walkthroughs_readme_marks_each_block() -> None:
    found = walkthroughs(README)
    assert set(WALKTHROUGHS) <= set(found)
    assert all(found[name] for name in WALKTHROUGHS)
    refusals = [s for s in found["promotion"] if s.must_fail]
    assert len(refusals) >= 5  # the maker/checker refusals the walk-through demonstrates


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", WALKTHROUGHS)
def test_walkthrough_run_verbatim_prints_what_the_readme_shows(
        name: str, fresh_demo: Path, shell_in: Callable[[Path], Shell]) -> None:
    before = shipped_bytes(fresh_demo)
    failures = _follow(shell_in(fresh_demo), walkthroughs(README)[name])
    assert not failures, f"README walk-through {name!r}:\n\n" + "\n\n".join(failures)
    assert shipped_bytes(fresh_demo) == before, "a walk-through edited a shipped file in place"
