"""``stratops keys|promote|deploy|audit|config``: maker/checker governance from the shell."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stratops.errors import EXIT_FAILED

console = Console()
AsOpt = Annotated[str | None, typer.Option("--as", help="acting user (or STRATOPS_USER)")]
ReasonOpt = Annotated[str, typer.Option(help="why (recorded and signed)")]

keys_app = typer.Typer(help="Per-user Ed25519 signing keys.", no_args_is_help=True)
promote_app = typer.Typer(help="Maker/checker promotion shadow -> canary -> live.",
                          no_args_is_help=True)
deploy_app = typer.Typer(help="Verify signed deployment snapshots.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
config_app = typer.Typer(help="Maker/checker for gates.yaml, policy.yaml, risk.yaml.",
                         no_args_is_help=True)


@contextmanager
def _refusals() -> Iterator[None]:
    from live.governance.promotion import GovernanceRefusal

    try:
        yield
    except GovernanceRefusal as exc:
        console.print(f"[red]{exc}[/] (audited)")
        raise typer.Exit(EXIT_FAILED) from None


def _signed_call(user: str | None, call: Callable[[Any, Any], Any]) -> Any:
    """Run a signed governance action between two audit checkpoints signed by the acting
    user: the log is checked (and marked open) before, and its head sealed after - also
    after a refusal, which is audited. A checkpoint problem never blocks the action (a kill
    must go through); it is printed and the command exits 1."""
    from stratops.checkpoint_ops import AuditCheckpoints
    from stratops.governance_ops import acting_user, directory, service, signer_for
    from stratops.settings import load_settings

    settings = load_settings()
    name = acting_user(user)
    sign = signer_for(settings, name)
    checkpoints = AuditCheckpoints(settings, _audit(settings), sign, directory(settings))
    opened = _checkpoint_step("before the action", checkpoints.open)
    sealed = False
    try:
        with _refusals():
            result = call(service(settings), sign)
    finally:
        sealed = opened and _checkpoint_step("after the action", checkpoints.seal)
        checkpoints.release()
    if not sealed:
        raise typer.Exit(EXIT_FAILED)
    return result


def _checkpoint_step(when: str, step: Callable[[], Any]) -> bool:
    """One audit checkpoint step; False, printing why, when the log contradicts its
    checkpoints or the checkpoint cannot be signed or written."""
    from live.checkpoints import CheckpointError
    from live.governance.identity import IdentityError
    from live.governance.signing import SignatureError

    try:
        made = step()
    except (CheckpointError, IdentityError, SignatureError) as exc:
        console.print(f"[red]audit checkpoint {when} NOT written[/]: {exc}")
        return False
    if made.sealed:
        console.print(f"audit checkpoint: seq {made.seq} sealed by {made.signature.signer}")
    return True


# -- keys -------------------------------------------------------------------------------

@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Argument(help="user name, e.g. alice")],
    role: Annotated[list[str] | None, typer.Option(
        help="with --add-to-roles: role(s) to grant (quant, desk_head, risk_officer, runner)")]
    = None,
    add_to_roles: Annotated[bool, typer.Option(
        help="append the user to the roles file (a reviewed file: commit it via review)")]
    = False,
) -> None:
    """Create USER's key pair: private key mode 0600 in the keys folder, never in git."""
    from live.governance.identity import create_keys
    from stratops.governance_ops import keys_dir
    from stratops.settings import load_settings

    settings = load_settings()
    path, public = create_keys(user, keys_dir(settings))
    console.print(f"private key: {path} (mode 0600; keep it out of git)")
    console.print(f"public key:  {public}")
    _print_roles_step(settings, user, role, public, add_to_roles)


@keys_app.command("create-service")
def keys_create_service(
    add_to_roles: Annotated[bool, typer.Option(
        help="append the service user to the roles file with role runner")] = False,
) -> None:
    """Create the runner's service key (live.service_key_file, mode 0600, folder 0700) that
    signs journal checkpoints. Run it as the service's own Unix user."""
    from live.service_key import create_service_key
    from stratops.settings import load_settings

    settings = load_settings()
    path = settings.path(settings.live.service_key_file)
    public = create_service_key(path)
    console.print(f"service key: {path} (mode 0600; readable by this Unix user only)")
    console.print(f"public key:  {public}")
    _print_roles_step(settings, settings.live.service_user, ["runner"], public, add_to_roles)


def _print_roles_step(settings: Any, user: str, role: list[str] | None, public: str,
                      add_to_roles: bool) -> None:
    from stratops.roles_file import add_user

    if add_to_roles:
        roles_path = settings.path(settings.governance.roles_file)
        add_user(roles_path, user, role or [], public)
        console.print(f"added {user} {role} to {roles_path}")
    else:
        console.print("add to roles.yaml under users:\n"
                      f"  {user}: {{roles: [<role>], public_key: {public}}}")


# -- promote ------------------------------------------------------------------------------

@promote_app.command("request")
def promote_request(
    strategy: Annotated[str, typer.Argument()], version: Annotated[int, typer.Argument()],
    to: Annotated[str, typer.Option("--to", help="shadow | canary | live")],
    reason: ReasonOpt, as_user: AsOpt = None,
) -> None:
    """Maker (quant): request STRATEGY VERSION to move one stage up."""
    row = _signed_call(as_user, lambda svc, sign: svc.request_promotion(
        strategy, version, to, reason, sign))
    console.print(f"[green]{row.ref}[/]: {strategy} v{version} -> {to}, requested by "
                  f"{row.maker}; a desk head must approve: stratops promote approve {row.ref}")


@promote_app.command("approve")
def promote_approve(request: Annotated[str, typer.Argument(help="request id, e.g. R3")],
                    as_user: AsOpt = None) -> None:
    """Checker (desk head, not the maker): re-check and deploy a pending request."""
    check = _signed_call(as_user, lambda svc, sign: svc.approve(request, sign))
    _print_check(check)


@promote_app.command("reject")
def promote_reject(request: Annotated[str, typer.Argument()], reason: ReasonOpt,
                   as_user: AsOpt = None) -> None:
    """Checker: reject a pending request with a reason."""
    row = _signed_call(as_user, lambda svc, sign: svc.reject(request, reason, sign))
    console.print(f"{row.ref} rejected by {row.decided_by}")


@promote_app.command("rollback")
def promote_rollback(strategy: Annotated[str, typer.Argument()], reason: ReasonOpt,
                     as_user: AsOpt = None) -> None:
    """Desk head or risk officer: live returns to the previous live version at once."""
    check = _signed_call(as_user, lambda svc, sign: svc.rollback(strategy, reason, sign))
    _print_check(check)


@promote_app.command("status")
def promote_status(strategy: Annotated[str | None, typer.Argument()] = None) -> None:
    """Deployments per stage and pending requests."""
    from stratops.governance_ops import service

    svc = service()
    table = Table(title="Deployments")
    for name in ("strategy", "stage", "version"):
        table.add_column(name)
    for (s, stage), (version, _) in sorted(svc.deployments(strategy).items()):
        table.add_row(s, stage, str(version))
    console.print(table)
    requests = Table(title="Requests")
    for name in ("id", "kind", "subject", "what", "maker", "state", "decided by"):
        requests.add_column(name)
    for row in svc.requests(strategy):
        what = (f"v{row.payload.get('version')} -> {row.payload.get('to_stage')}"
                if row.kind == "promotion" else row.payload.get("file", ""))
        requests.add_row(row.ref, row.kind, row.subject, what, row.maker, row.state,
                         row.decided_by or "")
    console.print(requests)


@promote_app.command("sync")
def promote_sync(strategy: Annotated[str, typer.Argument()]) -> None:
    """Re-point the registry aliases at the approved deployments (repairs a direct move)."""
    from stratops.governance_ops import service

    console.print(service().sync_aliases(strategy))


# -- deploy -------------------------------------------------------------------------------

def _print_check(check: Any) -> None:
    if check.ok:
        body = check.snapshot["body"]
        console.print(f"[green]verified[/]: {check.strategy}@{check.stage} = v{check.version}"
                      f", approved by {check.snapshot['approval']['signature']['signer']}, "
                      f"capital fraction {body['capital_fraction']}, model "
                      f"{body['model_digest'][:16]}...")
        return
    console.print(f"[red]NOT verified[/]: {check.strategy}@{check.stage}")
    for problem in check.problems:
        console.print(f"  - {problem}")
    raise typer.Exit(EXIT_FAILED)


@deploy_app.command("verify")
def deploy_verify(target: Annotated[str, typer.Argument(help="STRATEGY@ALIAS, e.g. ema_cross@live")]
                  ) -> None:
    """Check the alias carries an approved, signed, unaltered deployment; exit 1 if not."""
    from stratops.governance_ops import service

    strategy, sep, alias = target.partition("@")
    if not sep or not strategy or not alias:
        raise typer.BadParameter(f"{target!r} is not STRATEGY@ALIAS")
    _print_check(service().verify_deployment(strategy, alias))


# -- audit --------------------------------------------------------------------------------

def _audit(settings: Any = None):
    from live.db import make_engine
    from live.governance.audit import AuditLog
    from stratops.settings import load_settings

    settings = settings or load_settings()
    return AuditLog(make_engine(settings.governance.db_url, settings.root))


AgainstOpt = Annotated[Path | None, typer.Option(
    "--against", help="checkpoint file (JSON lines) or one exported checkpoint (JSON); "
                      "default: the configured checkpoint file, if it exists")]


@audit_app.command("verify")
def audit_verify(against: AgainstOpt = None) -> None:
    """Walk the hash chain and compare it with the signed checkpoints; name the first
    edited, deleted, reordered, truncated or forged record."""
    from stratops.checkpoint_ops import AUDIT_CHAIN, audit_checkpoint_file, check_against
    from stratops.cli_live import report_against
    from stratops.governance_ops import directory
    from stratops.settings import load_settings

    settings = load_settings()
    log = _audit(settings)
    verdict = log.verify()
    if not verdict.ok:
        console.print(f"[red]audit trail BROKEN[/] at record {verdict.first_bad_seq}: "
                      f"{verdict.reason}")
        raise typer.Exit(EXIT_FAILED)
    seq, head = log.head()
    console.print(f"audit chain links: {verdict.entries} records, head seq {seq} hash {head}")
    report_against("audit trail", check_against(log, against, audit_checkpoint_file(settings),
                                                directory(settings), chain=AUDIT_CHAIN,
                                                role=None))


@audit_app.command("checkpoint")
def audit_checkpoint(
    as_user: AsOpt = None,
    accept_appended: Annotated[bool, typer.Option(
        help="attest records appended after the last sealed checkpoint (review them first: "
             "stratops audit show)")] = False,
) -> None:
    """Seal the audit log's head now, signed by the acting user (after each governance
    command this happens by itself)."""
    from stratops.checkpoint_ops import AuditCheckpoints
    from stratops.governance_ops import acting_user, directory, signer_for
    from stratops.settings import load_settings

    settings = load_settings()
    sign = signer_for(settings, acting_user(as_user))
    checkpoints = AuditCheckpoints(settings, _audit(settings), sign, directory(settings))
    try:
        sealed = _checkpoint_step("now", lambda: checkpoints.seal(accept_appended=accept_appended))
    finally:
        checkpoints.release()
    if not sealed:
        raise typer.Exit(EXIT_FAILED)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date/time") from None
    return value if value.tzinfo else value.astimezone()


@audit_app.command("show")
def audit_show(
    strategy: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="ISO date/time")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Audit records, filtered by strategy, actor, kind and time."""
    records = _audit().records(strategy=strategy, actor=actor, kind=kind, since=_when(since),
                               until=_when(until))
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2, default=str))
        return
    table = Table(title=f"Audit trail ({len(records)} records)")
    for name in ("seq", "ts", "kind", "actor", "strategy", "subject", "detail"):
        table.add_column(name)
    for r in records:
        reason = r.detail.get("reason") or r.detail.get("payload", {}).get("reason", "")
        table.add_row(str(r.seq), str(r.ts)[:19], r.kind, r.actor, r.strategy or "",
                      r.subject, str(reason)[:60])
    console.print(table)


@audit_app.command("export")
def audit_export(path: Annotated[Path, typer.Argument(help="JSONL file to write")]) -> None:
    """One canonical JSON line per record, for auditors."""
    _audit().export_jsonl(path)
    console.print(f"wrote {path}")


# -- config -------------------------------------------------------------------------------

@config_app.command("request")
def config_request(kind: Annotated[str, typer.Argument(help="gates | policy | risk")],
                   reason: ReasonOpt, as_user: AsOpt = None) -> None:
    """Maker: propose the file's current content as its next approved version."""
    from live.governance.config_changes import request_config

    row = _signed_call(as_user, lambda svc, sign: request_config(svc, kind, reason, sign))
    console.print(f"[green]{row.ref}[/]: {kind} change requested by {row.maker}; a risk "
                  f"officer must approve: stratops config approve {row.ref}")


@config_app.command("approve")
def config_approve(request: Annotated[str, typer.Argument()], as_user: AsOpt = None) -> None:
    """Checker (risk officer, not the maker): approve a config change."""
    from live.governance.config_changes import approve_config

    version = _signed_call(as_user, lambda svc, sign: approve_config(svc, request, sign))
    console.print(f"[green]approved[/]: new config version {version}")


@config_app.command("status")
def config_status() -> None:
    """Each reviewed file: approved version and whether the file on disk matches it."""
    from stratops.governance_ops import service

    configs = service().configs
    problems = configs.unapproved()
    for kind in ("gates", "policy", "risk"):
        approved = configs.approved(kind)
        console.print(f"{kind}: approved version {approved[0] if approved else '-'}, file sha "
                      f"{configs.digest(kind)[:12]}")
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    if problems:
        raise typer.Exit(EXIT_FAILED)
