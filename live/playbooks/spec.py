"""``playbooks.yaml``: which alert codes call for which remediation (README, Playbooks).

The file is reviewed like ``risk.yaml`` (maker/checker, ``stratops config request
playbooks``) and its digest is part of every signed deployment snapshot. Loading validates
everything up front and names the file, the field and the value of each problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from live.events import KILL_SCOPE_ALL, Severity
from strategies.errors import BadInputError

SCHEMA_VERSION = 1
#: remediation -> the kill-switch mode it pulls (None: not a kill-switch action)
ACTIONS: Mapping[str, str | None] = {"pause": "halt", "reduce": "reduce", "flatten": "flatten",
                                     "reroute": None, "page": None}
MODES = ("auto", "confirm")
SCOPE_ALERT = "alert"  # the strategy the alert names (unattributable: every strategy)
SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
_RULE_KEYS = {"name", "when", "action", "scope", "mode", "rate_limit", "reroute_from",
              "page_tier"}
_WHEN_KEYS = {"codes", "min_severity", "strategies"}
_LIMIT_KEYS = {"max_actions", "window_seconds"}


class PlaybookConfigError(BadInputError, ValueError):
    """A playbooks file that cannot be trusted to act: the file, field and value named."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    max_actions: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Playbook:
    """One mapping: alerts it matches, the action, where it acts, how it is limited."""

    name: str
    codes: tuple[str, ...]
    action: str
    scope: str  # "alert", "all" or one strategy
    mode: str  # "auto" | "confirm"
    rate_limit: RateLimit
    min_severity: Severity = Severity.INFO
    strategies: tuple[str, ...] = ()  # only alerts naming one of these (empty: any)
    reroute_from: str = ""  # reroute: the venue (account) new entries leave
    page_tier: int = 0  # page: the alert-delivery tier to page (0 = first)

    @property
    def kill_mode(self) -> str | None:
        return ACTIONS[self.action]

    def matches(self, code: str, severity: Severity, strategy: str | None) -> bool:
        if code not in self.codes or SEVERITY_RANK[severity] < SEVERITY_RANK[self.min_severity]:
            return False
        return not self.strategies or strategy in self.strategies


@dataclass(frozen=True, slots=True)
class Playbooks:
    """The validated file: its playbooks in file order and the digest of its bytes."""

    playbooks: tuple[Playbook, ...]
    sha256: str
    path: str = ""

    def matching(self, code: str, severity: Severity, strategy: str | None
                 ) -> list[Playbook]:
        return [p for p in self.playbooks if p.matches(code, severity, strategy)]

    def named(self, name: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.name == name), None)


def load_playbooks(path: Path, known_strategies: set[str] | None = None,
                   venues: set[str] | None = None) -> Playbooks:
    """Read and validate ``path``. ``known_strategies``/``venues``: names a scope, filter or
    ``reroute_from`` may use (None: not checked).

    Raises
    ------
    PlaybookConfigError
        A missing or unparsable file, an unknown key, a bad value (named).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlaybookConfigError(f"{path}: cannot read the playbooks file: {exc}") from exc
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PlaybookConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_playbooks(document, str(path), hashlib.sha256(raw).hexdigest(),
                           known_strategies, venues)


def parse_playbooks(document: Any, where: str, sha256: str = "",
                    known_strategies: set[str] | None = None,
                    venues: set[str] | None = None) -> Playbooks:
    """Validate a parsed playbooks document (``where`` names it in errors)."""
    if not isinstance(document, dict):
        raise PlaybookConfigError(f"{where}: expected a mapping with 'version' and "
                                  f"'playbooks', got {type(document).__name__}")
    _unknown(where, "", document, {"version", "playbooks"})
    if document.get("version") != SCHEMA_VERSION:
        raise PlaybookConfigError(f"{where}: version={document.get('version')!r}: must be "
                                  f"{SCHEMA_VERSION}")
    rules = document.get("playbooks")
    if not isinstance(rules, list):
        raise PlaybookConfigError(f"{where}: playbooks={rules!r}: must be a list")
    parsed = [_rule(where, i, rule, known_strategies, venues) for i, rule in enumerate(rules)]
    names = [p.name for p in parsed]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PlaybookConfigError(f"{where}: playbooks[].name {dupes[0]!r} is used twice; "
                                  "names must be unique")
    return Playbooks(tuple(parsed), sha256, where)


def _unknown(where: str, field: str, mapping: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(mapping) - allowed)
    if extra:
        raise PlaybookConfigError(f"{where}: {field}{extra[0]!r} is not a known key; "
                                  f"allowed: {sorted(allowed)}")


def _rule(where: str, i: int, rule: Any, known: set[str] | None,
          venues: set[str] | None) -> Playbook:
    at = f"playbooks[{i}]"
    if not isinstance(rule, dict):
        raise PlaybookConfigError(f"{where}: {at}={rule!r}: must be a mapping")
    _unknown(where, f"{at}.", rule, _RULE_KEYS)
    name = _text(where, f"{at}.name", rule.get("name"))
    at = f"playbooks[{i}] ({name})"
    when = rule.get("when")
    if not isinstance(when, dict):
        raise PlaybookConfigError(f"{where}: {at}.when={when!r}: must be a mapping with "
                                  "'codes'")
    _unknown(where, f"{at}.when.", when, _WHEN_KEYS)
    codes = _names(where, f"{at}.when.codes", when.get("codes"), required=True)
    strategies = _names(where, f"{at}.when.strategies", when.get("strategies", []))
    action = str(rule.get("action"))
    if action not in ACTIONS:
        raise PlaybookConfigError(f"{where}: {at}.action={rule.get('action')!r}: must be one of "
                                  f"{list(ACTIONS)}")
    mode = rule.get("mode", "auto")
    if mode not in MODES:
        raise PlaybookConfigError(f"{where}: {at}.mode={mode!r}: must be one of {list(MODES)}")
    if mode == "confirm" and ACTIONS[action] is None:
        raise PlaybookConfigError(f"{where}: {at}.mode=confirm: a confirmation is a signed "
                                  f"kill command, so only pause/reduce/flatten can wait for "
                                  f"one (action={action!r})")
    scope = rule.get("scope", SCOPE_ALERT)
    for label, names in (("scope", [scope] if scope not in (SCOPE_ALERT, KILL_SCOPE_ALL)
                          else []), ("when.strategies", strategies)):
        for strategy in names:
            if not isinstance(strategy, str) or (known is not None and strategy not in known):
                raise PlaybookConfigError(f"{where}: {at}.{label}={strategy!r}: not a known "
                                          f"strategy ({sorted(known or [])}), "
                                          f"'{SCOPE_ALERT}' or '{KILL_SCOPE_ALL}'")
    return Playbook(name=name, codes=tuple(codes), action=action, scope=scope, mode=mode,
                    rate_limit=_limit(where, at, rule.get("rate_limit")),
                    min_severity=_severity(where, at, when.get("min_severity", "info")),
                    strategies=tuple(strategies),
                    reroute_from=_reroute(where, at, action, rule.get("reroute_from"), venues),
                    page_tier=_tier(where, at, action, rule.get("page_tier", 0)))


def _text(where: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64 or \
            not value.replace("_", "").replace("-", "").isalnum():
        raise PlaybookConfigError(f"{where}: {field}={value!r}: must be a name of letters, "
                                  "digits, '_' or '-' (at most 64)")
    return value


def _names(where: str, field: str, value: Any, *, required: bool = False) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or (required and not value):
        raise PlaybookConfigError(f"{where}: {field}={value!r}: must be a "
                                  f"{'non-empty ' if required else ''}list of names")
    return [_text(where, field, v) for v in value]


def _severity(where: str, at: str, value: Any) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise PlaybookConfigError(f"{where}: {at}.when.min_severity={value!r}: must be one of "
                                  f"{[s.value for s in Severity]}") from None


def _limit(where: str, at: str, value: Any) -> RateLimit:
    if not isinstance(value, dict) or set(value) != _LIMIT_KEYS:
        raise PlaybookConfigError(f"{where}: {at}.rate_limit={value!r}: required, a mapping "
                                  f"with exactly {sorted(_LIMIT_KEYS)}")
    for key, low, high in (("max_actions", 1, 1000), ("window_seconds", 1, 7 * 86400)):
        got = value[key]
        if not isinstance(got, int) or isinstance(got, bool) or not low <= got <= high:
            raise PlaybookConfigError(f"{where}: {at}.rate_limit.{key}={got!r}: must be an "
                                      f"integer in [{low}, {high}]")
    return RateLimit(value["max_actions"], value["window_seconds"])


def _reroute(where: str, at: str, action: str, value: Any, venues: set[str] | None) -> str:
    if action != "reroute":
        if value is not None:
            raise PlaybookConfigError(f"{where}: {at}.reroute_from={value!r}: only for "
                                      "action reroute")
        return ""
    venue = _text(where, f"{at}.reroute_from", value)
    if venues is not None and venue not in venues:
        raise PlaybookConfigError(f"{where}: {at}.reroute_from={venue!r}: not a configured "
                                  f"venue (live.venues: {sorted(venues)})")
    return venue


def _tier(where: str, at: str, action: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 9:
        raise PlaybookConfigError(f"{where}: {at}.page_tier={value!r}: an integer in [0, 9]")
    if action != "page" and value != 0:
        raise PlaybookConfigError(f"{where}: {at}.page_tier={value!r}: only for action page")
    return value
