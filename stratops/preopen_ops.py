"""The pre-open checks (``stratops preopen``): every one a yes/no with what it saw, run in
order, none skipped because an earlier one failed (the operator sees every problem at once).

1. ``token``       the broker session can trade today (Kite: credentials and a fresh access
                   token; the paper exchange needs none)
2. ``instruments`` the instrument master loads and passes its checks
3. ``contract_roll`` each policy symbol's front contract for the session (the roll rule
                   applied): which contract, its expiry, and whether today is a roll day
4. ``limits``      risk.yaml, policy.yaml and compliance.yaml load, and each is its latest
                   maker/checker-approved version (shadow: loading only)
5. ``clock``       the NTP offset (chronyc/ntpq) within ``live.clock.max_offset_ms``; no NTP
                   daemon answering is a failure, never a pass
6. ``disk``        free space where the stores live >= ``preopen.min_free_disk_gb``
7. ``reconciliation`` the mode's journal verifies (hash chain) and its last reconciliation
                   is clean and younger than ``preopen.max_reconciliation_age_hours``
8. ``egress_ip``   the egress address is compliance.yaml ``algo.static_egress_ip`` (SEBI's
                   whitelisted static IP; not configured: said so, passes)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stratops.settings import Settings

NtpProbe = Callable[[], float | None]
EgressProbe = Callable[[str, int], str]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Probes:
    """The outside world the checks read (the system's by default; tests inject theirs)."""

    now: datetime
    ntp_offset_ms: NtpProbe
    egress: EgressProbe


def system_probes(now: datetime) -> Probes:
    from live.compliance_rules.egress import egress_address
    from live.market.clock_offset import system_ntp_offset_ms

    return Probes(now=now, ntp_offset_ms=system_ntp_offset_ms, egress=egress_address)


def _token(settings: Settings, mode: str, broker: str, probes: Probes) -> tuple[bool, str]:
    if broker != "kite":
        return True, f"{broker} broker: no session token needed"
    from stratops.kite_ops import kite_token_problem

    problem = kite_token_problem(settings, probes.now)
    return (False, problem) if problem else (True, "Kite access token present and fresh")


def _book(settings: Settings) -> Any:
    from stratops.instruments_ops import contract_book

    return contract_book(settings)


def _instruments(settings: Settings, mode: str, broker: str, probes: Probes
                 ) -> tuple[bool, str]:
    book = _book(settings)
    path = settings.path(settings.instruments.master_file)
    return True, f"{path.name}: {len(book.master.contracts)} contracts"


def _policy(settings: Settings) -> Any:
    from live.governance.policy import load_policy
    from strategies.roster import STRATEGIES

    return load_policy(settings.path(settings.governance.policy_file), set(STRATEGIES))


def _contract_roll(settings: Settings, mode: str, broker: str, probes: Probes
                   ) -> tuple[bool, str]:
    book = _book(settings)
    day = book.session_of(probes.now)
    notes, ok = [], True
    for symbol in sorted(_policy(settings).rules.symbols):
        try:
            front = book.front(symbol, day)
            before = book.front(symbol, day - timedelta(days=1))
        except (KeyError, ValueError) as exc:
            ok = False
            notes.append(f"{symbol}: {exc}")
            continue
        rolled = " (ROLL DAY: was " + before.tradingsymbol + ")" \
            if before.tradingsymbol != front.tradingsymbol else ""
        notes.append(f"{symbol} -> {front.tradingsymbol} expires {front.expiry}{rolled}")
    return ok, "; ".join(notes)


def _limits(settings: Settings, mode: str, broker: str, probes: Probes) -> tuple[bool, str]:
    from live.risk.limits import load_risk_limits
    from stratops.compliance_setup import load_config

    policy = _policy(settings)
    load_risk_limits(settings.path(settings.governance.risk_file), set(policy.rules.symbols))
    compliance = load_config(settings)
    loaded = (f"policy v{policy.rules.version}, risk.yaml, compliance.yaml "
              f"v{compliance.version} load")
    if mode == "shadow":
        return True, loaded + " (shadow: approval not required)"
    from stratops.governance_ops import service

    problems = service(settings, create=False).config_problems()
    if problems:
        return False, "; ".join(problems)
    return True, loaded + " and are their approved versions"


def _clock(settings: Settings, mode: str, broker: str, probes: Probes) -> tuple[bool, str]:
    budget = settings.live.clock.max_offset_ms
    offset = probes.ntp_offset_ms()
    if offset is None:
        return False, "no NTP daemon answered (chronyc/ntpq): the clock is unchecked"
    return abs(offset) <= budget, f"NTP offset {offset:+.1f} ms; budget {budget:g} ms"


def _disk(settings: Settings, mode: str, broker: str, probes: Probes) -> tuple[bool, str]:
    free_gb = shutil.disk_usage(settings.root).free / 1e9
    need = settings.preopen.min_free_disk_gb
    return free_gb >= need, f"{free_gb:.1f} GB free at {settings.root}; need {need:g} GB"


def _reconciliation(settings: Settings, mode: str, broker: str, probes: Probes
                    ) -> tuple[bool, str]:
    from live.events import ReconciliationCompleted
    from live.journal import journal_exists
    from stratops.live_ops import journal_url, open_mode_journal

    url = journal_url(settings, mode)
    if not journal_exists(url, settings.root):
        return False, (f"no {mode} journal at {url}: no reconciliation to check (the runner "
                       "reconciles the journal with the broker at every start)")
    journal = open_mode_journal(settings, mode)
    last: ReconciliationCompleted | None = None
    for _, message in journal.read_checked():  # raises on a broken chain: a failure
        if isinstance(message, ReconciliationCompleted):
            last = message
    if last is None:
        return False, f"the {mode} journal holds no reconciliation"
    age = probes.now - last.ts_event
    limit = timedelta(hours=settings.preopen.max_reconciliation_age_hours)
    when = f"last reconciliation {last.ts_event.isoformat()}"
    if not last.clean:
        return False, f"{when} was not clean: {'; '.join(last.issues)}"
    if age > limit:
        return False, f"{when} is {age} old (> preopen.max_reconciliation_age_hours)"
    return True, f"journal chain verified; {when} clean"


def _egress(settings: Settings, mode: str, broker: str, probes: Probes) -> tuple[bool, str]:
    from live.compliance_rules.egress import EgressCheckError
    from stratops.compliance_setup import load_config

    expected = load_config(settings).algo.static_egress_ip
    if expected is None:
        return True, "compliance.yaml algo.static_egress_ip not set: not checked"
    host, port = settings.preopen.egress_probe_host, settings.preopen.egress_probe_port
    try:
        detected = probes.egress(host, port)
    except EgressCheckError as exc:
        return False, str(exc)
    ok = detected == expected
    return ok, (f"egress address {detected} towards {host}:{port}; whitelisted {expected}"
                + ("" if ok else ": MISMATCH, the broker would refuse our orders"))


CHECKS: tuple[tuple[str, Callable[[Settings, str, str, Probes], tuple[bool, str]]], ...] = (
    ("token", _token), ("instruments", _instruments), ("contract_roll", _contract_roll),
    ("limits", _limits), ("clock", _clock), ("disk", _disk),
    ("reconciliation", _reconciliation), ("egress_ip", _egress))


def run_checks(settings: Settings, mode: str, broker: str, probes: Probes
               ) -> list[CheckResult]:
    """Every check's result, in order; a check that raises is a failure naming the error."""
    results = []
    for name, check in CHECKS:
        try:
            ok, detail = check(settings, mode, broker, probes)
        except Exception as exc:  # a check that cannot run has failed: fail closed
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        results.append(CheckResult(name, ok, detail))
    return results
