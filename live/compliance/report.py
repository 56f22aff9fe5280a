"""The daily compliance report: the day's orders, cancels, order-to-trade ratios, alerts,
detector findings, kill-switch uses and governance changes (config changes, approvals,
refusals from the audit trail), anchored to the journal's head of the day (seq and hash)
and signed by the runner's service key.

The body is a pure function of the journal (and the audit trail): regenerating it gives
the same canonical bytes, so its SHA-256 (``body_sha256``) is reproducible; the signature
(which carries its own time and nonce) covers the body. :func:`verify_report` checks the
digest, the signature against the trusted directory (role ``runner``) and, given the
journal, that the anchor entry still has the recorded hash."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from live.canonical import canonical_json, sha256_hex
from live.compliance.findings import finding_of_alert
from live.compliance.otr_counts import OtrCounter
from live.compliance.scan import DayScanner
from live.compliance.thresholds import SurveillanceThresholds
from live.events import (
    AlertRaised,
    InternalCrossed,
    InternalCrossStarted,
    KillSwitchChanged,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderRejected,
)
from live.governance.identity import Directory, IdentityError
from live.governance.signing import Signature, SignatureError
from strategies.errors import BadInputError
from strategies.files import atomic_write

REPORT_VERSION = 1
REPORT_JSON = "compliance.json"
REPORT_HTML = "compliance.html"
RUNNER_ROLE = "runner"

Signer = Callable[[Mapping[str, Any]], Signature]


class ReportVerifyError(BadInputError):
    """A report that fails verification: the file and the reason are named."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An audit-trail record of the day as the report carries it."""

    seq: int
    ts: str
    kind: str
    actor: str
    subject: str
    hash: str
    detail: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "kind": self.kind, "actor": self.actor,
                "subject": self.subject, "hash": self.hash, "detail": dict(self.detail)}


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=ZoneInfo(tz))
    return start, start + timedelta(days=1)


def report_body(entries: Iterable[tuple[int, Message]], hash_of: Callable[[int], str],
                day: date, mode: str, cfg: SurveillanceThresholds,
                audit: Sequence[AuditEntry] | None) -> dict[str, Any]:
    """The report's body from the journal (``(seq, message)`` in order) and the day's
    audit records (None: no governance store was read)."""
    zone = ZoneInfo(cfg.tz)
    scanner, otr = DayScanner(day, cfg), OtrCounter(day)
    today: list[Message] = []
    first_seq = last_seq = 0
    started: dict[str, InternalCrossStarted] = {}  # internal crosses' markers, by cross id
    for seq, message in entries:  # one pass: memory holds the day, not the journal
        scanner.observe(message)
        otr.observe(message)
        if isinstance(message, InternalCrossStarted):
            started[message.cross_id] = message
        if message.ts_event.astimezone(zone).date() == day:
            today.append(message)
            first_seq = first_seq or seq
            last_seq = seq
    findings = [f.to_json() for f in scanner.findings()]
    alerts = [m for m in today if isinstance(m, AlertRaised)]
    online = sorted({f["id"] for a in alerts if (f := finding_of_alert(a)) is not None})
    kinds = Counter(type(m).__name__ for m in today)
    return {
        "report_version": REPORT_VERSION, "day": day.isoformat(), "mode": mode,
        "tz": cfg.tz,
        "journal_anchor": {"first_seq": first_seq, "seq": last_seq,
                           "hash": hash_of(last_seq) if last_seq else None,
                           "entries": len(today)},
        "orders": {
            "intended": kinds[OrderIntended.__name__],
            "cancelled": kinds[OrderCancelled.__name__],
            "rejected": kinds[OrderRejected.__name__],
            "fills": kinds[OrderFilled.__name__],
            "filled_qty": sum(m.qty for m in today if isinstance(m, OrderFilled))},
        "otr": [c.to_json() for c in otr.rows()],
        "alerts": [{"ts": a.ts_event.isoformat(), "severity": a.severity.value,
                    "code": a.code, "message": a.message} for a in alerts],
        "findings": findings,
        "findings_journaled_online": online,
        "findings_batch_only": sorted({f["id"] for f in findings} - set(online)),
        "internal_crosses": _crosses(today, started),
        "kill_switch": [{"ts": k.ts_event.isoformat(), "scope": k.scope,
                         "mode": k.mode.value, "actor": k.actor, "reason": k.reason}
                        for k in today if isinstance(k, KillSwitchChanged)],
        "governance": None if audit is None else [a.to_json() for a in audit],
    }


def _crosses(today: Sequence[Message], started: Mapping[str, InternalCrossStarted]
             ) -> list[dict[str, Any]]:
    """The day's internal crosses (``self_trade: net``): two of our strategies traded with
    each other inside the firm, never on the exchange - reported as crosses, not fills
    (so no wash trade); an aborted one (nothing withdrawn at the broker) with quantity 0,
    and one started and not finished with ``crossed_qty`` None."""
    done = {m.cross_id: m for m in today if isinstance(m, InternalCrossed)}
    out = []
    for m in today:
        if not isinstance(m, InternalCrossStarted | InternalCrossed) or (
                isinstance(m, InternalCrossStarted) and m.cross_id in done):
            continue
        marker = started.get(m.cross_id)
        if marker is None:
            continue  # an outcome without its marker: the fold's discrepancy, not a cross
        finished = done.get(m.cross_id)
        out.append({
            "ts": m.ts_event.isoformat(), "cross_id": m.cross_id,
            "trade_id": None if finished is None else finished.trade_id,
            "symbol": marker.symbol, "buyer": marker.strategy if marker.side.value == "BUY"
            else marker.resting_strategy,
            "seller": marker.resting_strategy if marker.side.value == "BUY"
            else marker.strategy,
            "price": marker.price, "qty": marker.qty,
            "crossed_qty": None if finished is None else finished.crossed_qty,
            "order": marker.cross_id, "resting_order": marker.resting_key})
    return out


def body_bytes(body: Mapping[str, Any]) -> bytes:
    return canonical_json(dict(body))


def signed_report(body: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """The stored document: body, its SHA-256 and the service key's signature over it."""
    sha = sha256_hex(body_bytes(body))
    signature = signer({"body_sha256": sha, "kind": "compliance_report"})
    return {"body": dict(body), "body_sha256": sha, "signature": signature.to_dict()}


def write_report(folder: Path, document: Mapping[str, Any]) -> tuple[Path, Path]:
    """``compliance.json`` (the signed document) and ``compliance.html`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=True)
    page = render_html(document)
    json_path = atomic_write(folder / REPORT_JSON, lambda tmp: Path(tmp).write_text(text))
    html_path = atomic_write(folder / REPORT_HTML, lambda tmp: Path(tmp).write_text(page))
    return json_path, html_path


def read_report(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportVerifyError(f"{path}: not a readable report ({exc})") from None
    if not isinstance(document, dict) or set(document) != {"body", "body_sha256",
                                                           "signature"}:
        raise ReportVerifyError(f"{path}: not a compliance report document (keys body, "
                                "body_sha256, signature)")
    return document


def verify_report(path: Path, trust: Directory,
                  anchor_hash: Callable[[int], str | None] | None = None) -> dict[str, Any]:
    """Check a stored report; returns its body. ``anchor_hash(seq)``: the journal's hash at
    a seq (None: no such entry), to check the anchor still stands.

    Raises
    ------
    ReportVerifyError
        A body not matching its digest, a signature that is not the runner's over it, or an
        anchor the journal no longer has.
    """
    document = read_report(path)
    body = document["body"]
    sha = sha256_hex(body_bytes(body))
    if sha != document["body_sha256"]:
        raise ReportVerifyError(f"{path}: the body was altered (its SHA-256 is {sha[:16]}..., "
                                f"the signed digest {str(document['body_sha256'])[:16]}...)")
    try:
        signature = Signature.from_dict(document["signature"])
        trust.require(signature.signer, RUNNER_ROLE)
        trust.verify({"body_sha256": sha, "kind": "compliance_report"}, signature,
                     now=signature.signed_time)
    except (SignatureError, IdentityError, TypeError) as exc:
        raise ReportVerifyError(f"{path}: signature refused: {exc}") from None
    anchor = body.get("journal_anchor") or {}
    seq = anchor.get("seq")
    if anchor_hash is not None and seq:
        found = anchor_hash(int(seq))
        if found != anchor.get("hash"):
            raise ReportVerifyError(f"{path}: journal anchor seq {seq} has hash "
                                    f"{str(found)[:16]}... in the journal, the report says "
                                    f"{str(anchor.get('hash'))[:16]}...")
    return dict(body)


def _rows(items: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not items:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(
        f"<td>{html.escape(str(item.get(c, '')))}</td>" for c in columns) + "</tr>"
        for item in items)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(document: Mapping[str, Any]) -> str:
    """A self-contained page of the report (escaped; no scripts)."""
    body = document["body"]
    anchor = body["journal_anchor"]
    governance = body["governance"]
    parts = [
        f"<h1>Compliance report {html.escape(body['day'])} ({html.escape(body['mode'])})</h1>",
        f"<p>journal anchor: seq {anchor['seq']} hash <code>{anchor['hash']}</code>; "
        f"{anchor['entries']} entries of the day</p>",
        f"<p>body SHA-256 <code>{document['body_sha256']}</code>, signed by "
        f"{html.escape(document['signature']['signer'])} at "
        f"{html.escape(document['signature']['signed_at'])}</p>",
        "<h2>Orders</h2>", _rows([body["orders"]], list(body["orders"])),
        "<h2>Order-to-trade ratio</h2>",
        _rows(body["otr"], ["strategy", "symbol", "orders", "modifications",
                            "cancellations", "trades", "otr"]),
        "<h2>Detector findings</h2>",
        _rows(body["findings"], ["id", "detector", "severity", "ts", "symbol", "summary"]),
        "<h2>Alerts</h2>", _rows(body["alerts"], ["ts", "severity", "code", "message"]),
        "<h2>Internal crosses (self_trade: net)</h2>",
        _rows(body.get("internal_crosses", []),
              ["ts", "symbol", "buyer", "seller", "price", "crossed_qty", "order",
               "resting_order"]),
        "<h2>Kill-switch uses</h2>",
        _rows(body["kill_switch"], ["ts", "scope", "mode", "actor", "reason"]),
        "<h2>Config changes and approvals</h2>",
        "<p>no governance store read</p>" if governance is None else
        _rows(governance, ["seq", "ts", "kind", "actor", "subject"]),
    ]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Compliance "
            f"{html.escape(body['day'])}</title><style>{style}</style></head><body>"
            + "".join(parts) + "</body></html>\n")
