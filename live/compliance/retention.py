"""Retention: journal entries older than the retention period may be deleted, only after a
verified archive holds them, and only through maker/checker (a request signed by one person,
an approval signed by another; both audited, every refusal audited).

What is deleted is always a *prefix* of the journal: entries ``anchor+1..through_seq``, all
of whose exchange days are before the requested day (itself at least ``years`` before
today). The last deleted entry's seq and hash become the journal's retained anchor
(``journal_anchor``): the first retained entry chains to it, so :meth:`Journal.verify` and
the runner's checked replay go on verifying from it, the signed checkpoints' mark of that
seq must agree with it, and the archive's signed manifest names the same seq and hash.

The prefix must also be *inert*: folded, it leaves no open position, no working order, no
kill switch on and no running parent order - the retained journal alone must rebuild the
same live state (a deleted kill switch must never reopen trading)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from live.compliance.archive import (
    REPORTS,
    ArchiveVerifyError,
    VerifiedArchive,
    sha256_file,
    verify_archive,
)
from live.events import KillMode
from live.governance import store
from live.governance.promotion import GovernanceRefusal, GovernanceService, Signer
from live.journal import JOURNAL, JOURNAL_ANCHOR, Journal, anchor_in
from live.state import LiveState
from strategies.errors import BadInputError

MAKER_ROLES = ("desk_head", "risk_officer", "quant")
CHECKER_ROLE = "risk_officer"
KIND = "retention"
_ARCHIVE_NAME = re.compile(r"journal-[a-z]{1,20}-\d{10}-\d{10}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class RetentionError(BadInputError):
    """A retention request that cannot be planned (nothing to delete, a bad day)."""


def retention_cutoff(today: date, years: int) -> date:
    """The first day still inside the period: ``today`` less ``years`` years."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


@dataclass(frozen=True, slots=True)
class PurgePlan:
    """Delete entries ``from_seq..through_seq`` (hash of the last: ``anchor_hash``)."""

    chain: str
    before: date
    from_seq: int
    through_seq: int
    anchor_hash: str

    @property
    def rows(self) -> int:
        return self.through_seq - self.from_seq + 1


def plan_purge(journal: Journal, chain: str, before: date, tz: str) -> PurgePlan:
    """The longest prefix of the stored journal whose entries are all of days before
    ``before`` (at least one entry is always kept)."""
    zone = ZoneInfo(tz)
    anchor = journal.anchor()
    head = journal.head()[0]
    last, last_hash = anchor
    query = sa.select(JOURNAL.c.seq, JOURNAL.c.ts_event, JOURNAL.c.hash).where(
        JOURNAL.c.seq > anchor[0], JOURNAL.c.seq < head).order_by(JOURNAL.c.seq)
    with journal.engine.connect() as conn:
        for row in conn.execution_options(yield_per=10_000).execute(query):
            if datetime.fromisoformat(row.ts_event).astimezone(zone).date() >= before:
                break
            last, last_hash = int(row.seq), str(row.hash)
    if last == anchor[0]:
        raise RetentionError(f"{chain}: no entry before {before} to delete (the journal "
                             f"starts after seq {anchor[0]})")
    return PurgePlan(chain, before, anchor[0] + 1, last, last_hash)


def inert_problem(journal: Journal, plan: PurgePlan) -> str | None:
    """Why the prefix is not inert (see the module), or None."""
    state = LiveState()
    for seq, message in journal.read_checked(plan.from_seq):
        if seq > plan.through_seq:
            break
        state.apply(message)
    open_positions = sorted(f"{s}/{y} {p.net_qty:+d}" for (s, y), p in state.positions.items()
                            if p.net_qty)
    if open_positions:
        return f"positions still open at seq {plan.through_seq}: {open_positions}"
    if state.working:
        return f"orders still working at seq {plan.through_seq}: {sorted(state.working)}"
    on = sorted(k for k, m in state.kill_switches.items() if m is not KillMode.OFF)
    if on:
        return f"kill switches still on at seq {plan.through_seq}: {on}"
    running = sorted(set(state.parents) - set(state.parent_outcomes))
    if running:
        return f"parent orders still running at seq {plan.through_seq}: {running}"
    return None


def archive_problem(journal: Journal, plan: PurgePlan, archive: VerifiedArchive) -> str | None:
    """Why ``archive`` does not hold exactly the journal's entries of the plan, or None."""
    held = archive.journal
    if held.first_seq > plan.from_seq or held.last_seq < plan.through_seq:
        return (f"archive {archive.folder.name} holds seq {held.first_seq}..{held.last_seq}, "
                f"not all of {plan.from_seq}..{plan.through_seq}")
    stored = journal.hashes(plan.from_seq, plan.through_seq)
    for seq, digest in archive.journal_hashes():
        if seq < plan.from_seq:
            continue
        if seq > plan.through_seq:
            break
        found = next(stored, None)
        if found != (seq, digest):
            return (f"journal entry seq {seq} differs from archive {archive.folder.name} "
                    f"(stored {found})")
    return None


def _archive(root: Path, name: str) -> Path:
    if not _ARCHIVE_NAME.fullmatch(name):
        raise RetentionError(f"archive name {name!r} is not an archive of a journal")
    return root / name


@dataclass(frozen=True, slots=True)
class PurgeContext:
    """What a purge request and its approval check against; ``report_roots``: the report
    folders the archive holds under ``reports/<key>/`` (day folders ``YYYY-MM-DD``)."""

    service: GovernanceService
    journal: Journal
    chain: str
    archive_root: Path
    today: date
    years: int
    tz: str
    report_roots: Mapping[str, Path] = field(default_factory=dict)


def archived_report_days(ctx: PurgeContext, archive: VerifiedArchive,
                         before: date) -> list[Path]:
    """The report day folders before ``before`` whose every file the archive holds with
    the same SHA-256 (a folder with a file it does not hold is kept)."""
    listed = {str(f["path"]): str(f["sha256"]) for f in archive.manifest["files"]}
    found = []
    for key, root in sorted(ctx.report_roots.items()):
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if not (folder.is_dir() and _DAY.fullmatch(folder.name)
                    and date.fromisoformat(folder.name) < before):
                continue
            files = [p for p in folder.rglob("*") if p.is_file()]
            if all(listed.get(f"{REPORTS}/{key}/{p.relative_to(root).as_posix()}")
                   == sha256_file(p) for p in files):
                found.append(folder)
    return found


def _problems(ctx: PurgeContext, before: date, archive_name: str
              ) -> tuple[PurgePlan | None, str | None]:
    cutoff = retention_cutoff(ctx.today, ctx.years)
    if before > cutoff:
        return None, (f"entries from {before} are inside the retention period of {ctx.years} "
                      f"years (kept until {before.replace(year=before.year + ctx.years)}); "
                      f"only days before {cutoff} may be deleted")
    try:
        plan = plan_purge(ctx.journal, ctx.chain, before, ctx.tz)
        archive = verify_archive(_archive(ctx.archive_root, archive_name),
                                 ctx.service.directory)
    except (RetentionError, ArchiveVerifyError) as exc:
        return None, str(exc)
    problem = archive_problem(ctx.journal, plan, archive) or inert_problem(ctx.journal, plan)
    return plan, problem


def request_purge(ctx: PurgeContext, before: date, archive_name: str, reason: str,
                  signer: Signer) -> store.RequestRow:
    """Maker: ask to delete the journal's entries before ``before`` held by the archive."""
    action = "retention_purge_request"
    plan, problem = _problems(ctx, before, archive_name)
    payload = {"action": action, "chain": ctx.chain, "before": before.isoformat(),
               "archive": archive_name, "reason": reason,
               "through_seq": None if plan is None else plan.through_seq,
               "anchor_hash": None if plan is None else plan.anchor_hash}
    actor, signature = ctx.service._signed(payload, signer, MAKER_ROLES, None)
    problem = problem or (None if reason.strip() else "a reason is required")
    if problem is not None:
        raise ctx.service.refuse(actor, action, problem, subject=ctx.chain)
    return ctx.service.record_request(kind=KIND, subject=ctx.chain, payload=payload,
                                      signature=signature, actor=actor, action=action)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    ref: str
    chain: str
    deleted_from: int
    deleted_through: int
    anchor_hash: str
    archive: str
    report_folders: int = 0


def approve_purge(ctx: PurgeContext, ref: str, signer: Signer) -> PurgeResult:
    """Checker (a risk officer, never the maker): everything is checked again now - the
    period, the archive, the journal's entries against it, the prefix inert - then the
    entries are deleted and the anchor kept, in one journal transaction; audited."""
    action = "retention_purge_approve"
    service = ctx.service
    row = service._request(ref, "unknown", action)
    payload = {"action": action, "request_id": row.ref}
    actor, signature = service._signed(payload, signer, CHECKER_ROLE, None)
    problem = None
    if row.kind != KIND or row.subject != ctx.chain:
        problem = f"{row.ref} is not a retention request of {ctx.chain}"
    elif service.same_person(service.maker_of(row, actor, action), actor, signature):
        problem = f"{actor!r} made {row.ref}: maker and checker must be different people"
    elif row.state != "pending":
        problem = f"{row.ref} is already {row.state} by {row.decided_by}"
    plan = None
    if problem is None:
        plan, problem = _problems(ctx, date.fromisoformat(row.payload["before"]),
                                  row.payload["archive"])
    if problem is None and plan is not None and \
            (plan.through_seq, plan.anchor_hash) != (row.payload["through_seq"],
                                                     row.payload["anchor_hash"]):
        problem = (f"the journal's prefix changed since {row.ref} (now through seq "
                   f"{plan.through_seq}); request again")
    if problem is not None or plan is None:
        raise service.refuse(actor, action, problem or "no plan", subject=row.ref)
    decision = {"payload": payload, "signature": signature.to_dict()}
    archive = verify_archive(_archive(ctx.archive_root, row.payload["archive"]),
                             service.directory)
    reports = archived_report_days(ctx, archive, plan.before)

    def decide(conn: sa.Connection) -> None:
        service._consume(conn, signature, actor, action, None)
        if not store.decide_request(conn, row.id, state="approved", decided_by=actor,
                                    decision=decision, decided_at=service._now()):
            raise service._deferred_refusal(actor, action, f"{row.ref} was decided "
                                            "concurrently", None)
        service.audit.append_in(conn, ts=service.clock(), kind="retention_purged",
                                actor=actor, subject=row.ref, detail={
                                    "chain": ctx.chain, "deleted_from": plan.from_seq,
                                    "deleted_through": plan.through_seq,
                                    "anchor_hash": plan.anchor_hash,
                                    "archive": row.payload["archive"],
                                    "report_folders": [f"{p.parent.name}/{p.name}"
                                                       for p in reports],
                                    "approval": decision})
        # the journal's delete inside the governance transaction: if it fails, the
        # approval and its audit record roll back with it
        delete_prefix(ctx.journal, plan, archive=row.payload["archive"],
                      purged_at=service._now())

    service._commit(decide)
    for folder in reports:  # archived with the same checksums, checked just above
        shutil.rmtree(folder)
    return PurgeResult(row.ref, ctx.chain, plan.from_seq, plan.through_seq,
                       plan.anchor_hash, row.payload["archive"], len(reports))


def delete_prefix(journal: Journal, plan: PurgePlan, *, archive: str, purged_at: str) -> None:
    """Delete the plan's entries and keep their last as the anchor, in one transaction (the
    append-only triggers lifted for it and restored before the commit)."""
    sqlite = journal.engine.dialect.name == "sqlite"
    with journal.engine.begin() as conn:
        JOURNAL_ANCHOR.create(conn, checkfirst=True)
        if anchor_in(conn)[0] != plan.from_seq - 1:
            raise GovernanceRefusal(f"{plan.chain}: the anchor moved under the purge")
        if sqlite:
            conn.exec_driver_sql("DROP TRIGGER journal_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE journal DISABLE TRIGGER journal_no_change")
        conn.execute(JOURNAL.delete().where(JOURNAL.c.seq <= plan.through_seq))
        if sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal "
                "BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END")
        else:
            conn.exec_driver_sql("ALTER TABLE journal ENABLE TRIGGER journal_no_change")
        conn.execute(JOURNAL_ANCHOR.delete())
        conn.execute(JOURNAL_ANCHOR.insert().values(id=1, seq=plan.through_seq,
                                                    hash=plan.anchor_hash,
                                                    purged_at=purged_at, archive=archive))
