"""``stratops keys|promote|deploy|audit|config``: maker/checker governance from the shell."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stratops.cli_common import JsonOpt, print_json
from stratops.errors import EXIT_FAILED

if TYPE_CHECKING:
    from live.governance.audit import AuditLog

console = Console()
# who may attest audit records appended outside a signing command (after reviewing them):
# anyone else could seal records they forged with SQL under their own checkpoint
ATTEST_ROLE = "risk_officer"
AsOpt = Annotated[str | None, typer.Option("--as", help="acting user (or STRATOPS_USER)")]
ReasonOpt = Annotated[str, typer.Option(help="why (recorded and signed)")]

keys_app = typer.Typer(help="Per-user Ed25519 signing keys.", no_args_is_help=True)
promote_app = typer.Typer(help="Maker/checker promotion shadow -> canary -> live.",
                          no_args_is_help=True)
deploy_app = typer.Typer(help="Verify signed deployment snapshots.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
config_app = typer.Typer(help="Maker/checker for gates.yaml, policy.yaml, risk.yaml, "
                         "playbooks.yaml, roles.yaml.",
                         no_args_is_help=True)
trust_app = typer.Typer(help="The root of trust: the approved roles and keys (roles.lock.json).",
                        no_args_is_help=True)


@contextmanager
def _refusals() -> Iterator[None]:
    from live.governance.promotion import GovernanceRefusal

    try:
        yield
    except GovernanceRefusal as exc:
        console.print(f"[red]{exc}[/] (audited)")
        raise typer.Exit(EXIT_FAILED) from None


class SigningRefused(typer.Exit):
    """The acting user could not sign or be verified at all (no trust lock, an unknown or
    unapproved user, an exposed key file): refused and audited before any action."""


def _signed_call(user: str | None, call: Callable[[Any, Any], Any],
                 action: str = "signed_action") -> Any:
    """Run a signed governance action between two audit checkpoints signed by the acting
    user: the log is checked (and marked open) before, and its head sealed after - also
    after a refusal, which is audited. A checkpoint problem never blocks the action (a kill
    must go through); it is printed and the command exits 1. A user who cannot sign is
    refused (and audited) before anything else."""
    from live.governance.identity import IdentityError
    from live.governance.signing import SignatureError
    from stratops.checkpoint_ops import AuditCheckpoints
    from stratops.governance_ops import acting_user, audit_refusal, service, signer_for
    from stratops.settings import load_settings

    settings = load_settings()
    name = acting_user(user)
    try:
        svc, sign = service(settings), signer_for(settings, name)
    except (IdentityError, SignatureError) as exc:  # unapproved user, exposed key, no trust
        audit_refusal(settings, f"unverified:{name}", action, str(exc))
        console.print(f"[red]{action} refused[/]: {exc} (audited)")
        raise SigningRefused(EXIT_FAILED) from None
    checkpoints = AuditCheckpoints(settings, _audit(settings), sign, svc.directory)
    opened = _checkpoint_step("before the action", checkpoints.open)
    sealed = False
    try:
        with _refusals():
            result = call(svc, sign)
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
        help="append the user to the roles file (a claim until a risk officer approves it)")]
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
    """Append the user to the roles file if asked (a claim, not a grant), and audit the new
    key either way."""
    import getpass

    from live.governance.signing import key_id, load_public_key_b64
    from stratops.governance_ops import audit_log, utc_now
    from stratops.roles_file import add_user

    detail: dict[str, Any] = {"user": user, "key_id": key_id(load_public_key_b64(public)),
                              "roles_file_edited": add_to_roles}
    if add_to_roles:
        roles_path = settings.path(settings.governance.roles_file)
        add_user(roles_path, user, role or [], public)
        detail |= {"roles_claimed": role or [], "trusted": False}
        console.print(f"added {user} {role} to {roles_path}: an unapproved claim until a risk "
                      f"officer approves it (`stratops config request roles`), or the "
                      f"bootstrap ceremony for a new desk (`stratops trust bootstrap`)")
    audit_log(settings).append(ts=utc_now(), kind="keys_created",
                               actor=f"os:{getpass.getuser()}"[:64], subject=user,
                               detail=detail)
    if not add_to_roles:
        console.print("add to roles.yaml under users:\n"
                      f"  {user}: {{roles: [<role>], public_key: {public}}}")


# -- promote ------------------------------------------------------------------------------

VersionArg = Annotated[str, typer.Argument(
    metavar="STRATEGY", help="ema_cross@3, ema_cross@shadow, or ema_cross with "
                                       "VERSION after it")]
VersionRefArg = Annotated[str | None, typer.Argument(
    metavar="VERSION", help="version number, latest or alias (when not given as @...)",
    show_default=False)]


@promote_app.command("request")
def promote_request(
    strategy: VersionArg,
    to: Annotated[str, typer.Option("--to", help="shadow | canary | live")],
    reason: ReasonOpt, version: VersionRefArg = None, as_user: AsOpt = None,
) -> None:
    """Maker (quant): request a version (ema_cross@3, ema_cross 3, or the version an alias
    points at: ema_cross@shadow) to move one stage up."""
    from stratops.cli_common import parse_version

    ref = parse_version(strategy, version)
    number = ref.number
    if number is None:  # latest or an alias: the version it names now is what is requested
        from stratops.governance_ops import registry
        from stratops.settings import load_settings

        number = registry(load_settings(), create=False).get_version(ref.strategy,
                                                                     ref.ref).version
    row = _signed_call(as_user, lambda svc, sign: svc.request_promotion(
        ref.strategy, number, to, reason, sign), "promotion_request")
    console.print(f"[green]{row.ref}[/]: {ref.strategy} v{number} -> {to}, requested by "
                  f"{row.maker}; a desk head must approve: stratops promote approve {row.ref}")


@promote_app.command("approve")
def promote_approve(request: Annotated[str, typer.Argument(help="request id, e.g. R3")],
                    as_user: AsOpt = None) -> None:
    """Checker (desk head, not the maker): re-check and deploy a pending request."""
    from live.governance.rollback import approve_request  # a promotion or a rollback

    check = _signed_call(as_user, lambda svc, sign: approve_request(svc, request, sign),
                         "promotion_approve")
    _print_check(check)


@promote_app.command("reject")
def promote_reject(request: Annotated[str, typer.Argument()], reason: ReasonOpt,
                   as_user: AsOpt = None) -> None:
    """Checker: reject a pending request with a reason."""
    row = _signed_call(as_user, lambda svc, sign: svc.reject(request, reason, sign),
                       "promotion_reject")
    console.print(f"{row.ref} rejected by {row.decided_by}")


@promote_app.command("rollback")
def promote_rollback(strategy: Annotated[str, typer.Argument()], reason: ReasonOpt,
                     as_user: AsOpt = None) -> None:
    """Desk head or risk officer: live returns to the previous live version at once."""
    check = _signed_call(as_user, lambda svc, sign: svc.rollback(strategy, reason, sign),
                         "rollback")
    _print_check(check)


@promote_app.command("status")
def promote_status(strategy: Annotated[str | None, typer.Argument()] = None,
                   as_json: JsonOpt = False) -> None:
    """Deployments per stage and pending requests."""
    from stratops.governance_ops import service
    from stratops.promotion_view import promotion_status

    status = promotion_status(service(create=False), strategy)
    deployments, requests = status["deployments"], status["requests"]
    if as_json:
        print_json({"deployments": deployments, "requests": requests})
        return
    table = Table(title="Deployments")
    for name in ("strategy", "stage", "version"):
        table.add_column(name)
    for d in deployments:
        table.add_row(d["strategy"], d["stage"], str(d["version"]))
    console.print(table)
    pending = Table(title="Requests")
    for name in ("id", "kind", "subject", "what", "maker", "state", "decided by"):
        pending.add_column(name)
    for r in requests:
        pending.add_row(r["id"], r["kind"], r["subject"], r["what"], r["maker"], r["state"],
                        r["decided_by"] or "")
    console.print(pending)


@promote_app.command("sync")
def promote_sync(strategy: Annotated[str, typer.Argument()]) -> None:
    """Re-point the registry aliases at the approved deployments (repairs a direct move)."""
    from stratops.governance_ops import service

    console.print(service().sync_aliases(strategy, repair=True))


# -- deploy -------------------------------------------------------------------------------

def _print_check(check: Any) -> None:
    if check.ok:
        body = check.snapshot["body"]
        console.print(f"[green]verified[/]: {check.strategy}@{check.stage} = v{check.version}"
                      f", approved by {check.snapshot['approval']['signature']['signer']}, "
                      f"capital fraction {body['capital_fraction']}, model "
                      f"{body['model_digest'][:16]}...")
        evidence = body.get("canary_evidence")
        if isinstance(evidence, dict) and evidence.get("size_note"):
            console.print(f"  canary size: {evidence['size_note']}")  # a 1-lot version
        if isinstance(evidence, dict) and evidence.get("realised_slippage_bps") is not None:
            console.print(f"  canary slippage: {evidence['realised_slippage_bps']:.2f} bps "
                          f"realised vs {evidence['assumed_slippage_bps']:.2f} bps assumed")
        return
    console.print(f"[red]NOT verified[/]: {check.strategy}@{check.stage}")
    for problem in check.problems:
        console.print(f"  - {problem}")
    raise typer.Exit(EXIT_FAILED)


@deploy_app.command("verify")
def deploy_verify(
    target: Annotated[str, typer.Argument(
        metavar="STRATEGY", help="ema_cross@live, or ema_cross with ALIAS after it")],
    alias: Annotated[str | None, typer.Argument(
        metavar="ALIAS", help="shadow | canary | live (when not given as @...)",
        show_default=False)] = None,
) -> None:
    """Check the alias carries an approved, signed deployment whose stage chain verifies;
    exit 1 (and audit the failure) if not."""
    import getpass

    from stratops.cli_common import VersionRefError, parse_version
    from stratops.governance_ops import service

    ref = parse_version(target, alias)
    if ref.alias is None:
        raise VersionRefError(f"deploy verify checks a stage alias (e.g. {ref.strategy}@live), "
                              f"not {ref}: a version is verified through the stage it is "
                              "deployed to")
    _print_check(service().verify_deployment(ref.strategy, ref.alias,
                                              audit_as=f"os:{getpass.getuser()}"[:64]))


# -- audit --------------------------------------------------------------------------------

def _audit(settings: Any = None, *, create: bool = True) -> AuditLog:
    from stratops.governance_ops import audit_log
    from stratops.settings import load_settings

    return audit_log(settings or load_settings(), create=create)


AgainstOpt = Annotated[Path | None, typer.Option(
    "--against", help="checkpoint file (JSON lines) or one exported checkpoint (JSON); "
                      "default: the configured checkpoint file, if it exists")]


@audit_app.command("verify")
def audit_verify(against: AgainstOpt = None) -> None:
    """Walk the hash chain and compare it with the signed checkpoints; name the first
    edited, deleted, reordered, truncated or forged record."""
    from stratops.checkpoint_ops import AUDIT_CHAIN, audit_checkpoint_file, check_against
    from stratops.cli_live import report_against
    from stratops.governance_ops import directory_or_none
    from stratops.settings import load_settings

    settings = load_settings()
    log = _audit(settings, create=False)
    verdict = log.verify()
    if not verdict.ok:
        console.print(f"[red]audit trail BROKEN[/] at record {verdict.first_bad_seq}: "
                      f"{verdict.reason}")
        raise typer.Exit(EXIT_FAILED)
    seq, head = log.head()
    console.print(f"audit chain links: {verdict.entries} records, head seq {seq} hash {head}")
    report_against("audit trail", check_against(log, against, audit_checkpoint_file(settings),
                                                directory_or_none(settings),
                                                chain=AUDIT_CHAIN, role=None))


@audit_app.command("checkpoint")
def audit_checkpoint(
    as_user: AsOpt = None,
    accept_appended: Annotated[bool, typer.Option(
        help="attest records appended after the last sealed checkpoint (review them first: "
             "stratops audit show)")] = False,
) -> None:
    """Seal the audit log's head now, signed by the acting user (after each governance
    command this happens by itself)."""
    from stratops.checkpoint_ops import checkpoint_audit
    from stratops.governance_ops import acting_user, audit_refusal, directory, signer_for
    from stratops.settings import load_settings

    settings = load_settings()
    user = acting_user(as_user)
    sign = signer_for(settings, user)
    trusted_roles = directory(settings).user(user).roles
    if accept_appended and ATTEST_ROLE not in trusted_roles:
        reason = (f"user {user!r} has roles {sorted(trusted_roles)}; attesting records "
                  f"appended outside a command needs {ATTEST_ROLE!r} (who reviewed them)")
        audit_refusal(settings, user, "audit_checkpoint", reason)
        console.print(f"[red]audit_checkpoint refused[/]: {reason} (audited)")
        raise typer.Exit(EXIT_FAILED)
    sealed = _checkpoint_step("now", lambda: checkpoint_audit(
        settings, _audit(settings), sign, directory(settings),
        accept_appended=accept_appended))
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
    as_json: JsonOpt = False,
) -> None:
    """Audit records, filtered by strategy, actor, kind and time."""
    records = _audit(create=False).records(strategy=strategy, actor=actor, kind=kind,
                                           since=_when(since), until=_when(until))
    if as_json:
        print_json([r.to_dict() for r in records])
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
    _audit(create=False).export_jsonl(path)
    console.print(f"wrote {path}")


# -- config -------------------------------------------------------------------------------

@config_app.command("request")
def config_request(kind: Annotated[str, typer.Argument(
        help="gates | policy | risk | playbooks | compliance | roles")],
                   reason: ReasonOpt, as_user: AsOpt = None) -> None:
    """Maker: propose the file's current content as its next approved version."""
    from live.config_changes import request_config

    row = _signed_call(as_user, lambda svc, sign: request_config(svc, kind, reason, sign),
                       "config_request")
    console.print(f"[green]{row.ref}[/]: {kind} change requested by {row.maker}; a risk "
                  f"officer must approve: stratops config approve {row.ref}")


@config_app.command("approve")
def config_approve(request: Annotated[str, typer.Argument()], as_user: AsOpt = None) -> None:
    """Checker (risk officer, not the maker): approve a config change."""
    from live.config_changes import approve_config

    version = _signed_call(as_user, lambda svc, sign: approve_config(svc, request, sign),
                           "config_approve")
    console.print(f"[green]approved[/]: new config version {version}")


@config_app.command("status")
def config_status(as_json: JsonOpt = False) -> None:
    """Each reviewed file: approved version and whether the file on disk matches it."""
    from live.governance.configs import KINDS
    from stratops.governance_ops import service

    svc = service(create=False)
    configs = svc.configs
    problems = svc.config_problems()
    files: list[dict[str, Any]] = []
    for kind in KINDS:
        approved = configs.approved(kind)
        files.append({"kind": kind, "approved_version": approved[0] if approved else None,
                      "file_sha256": configs.digest(kind)})
    if as_json:
        print_json({"files": files, "problems": problems})
    else:
        for f in files:
            version = "-" if f["approved_version"] is None else f["approved_version"]
            console.print(f"{f['kind']}: approved version {version}, file sha "
                          f"{f['file_sha256'][:12]}")
        for problem in problems:
            console.print(f"[red]{problem}[/]")
    if problems:
        raise typer.Exit(EXIT_FAILED)


# -- trust --------------------------------------------------------------------------------

@trust_app.command("bootstrap")
def trust_bootstrap(
    maker: Annotated[str, typer.Option(help="a user listed in the roles file")],
    checker: Annotated[str, typer.Option(help="a different user with role risk_officer")],
    reason: ReasonOpt,
) -> None:
    """The one-time ceremony: two people sign the first roles file into the trust lock."""
    from live.governance.identity import load_actor, load_directory
    from live.governance.trust import bootstrap, lock_path_for
    from stratops.governance_ops import audit_log, keys_dir, utc_now
    from stratops.settings import load_settings

    settings = load_settings()
    roles = settings.path(settings.governance.roles_file)
    lock = lock_path_for(roles)
    first = load_directory(roles)
    ttl = settings.governance.signature_ttl_seconds

    def signer(name: str) -> Any:
        actor = load_actor(first, name, keys_dir(settings))
        return lambda payload: actor.sign(payload, now=utc_now(), ttl_seconds=ttl)

    entry = bootstrap(roles, lock, reason, signer(maker), signer(checker))
    audit_log(settings).append(ts=utc_now(), kind="trust_bootstrapped", actor=checker,
                               subject=lock.name,
                               detail={"root_sha256": entry["sha256"], "maker": maker,
                                       "checker": checker, "reason": reason})
    console.print(f"[green]trust lock created[/]: {lock} (commit it with {roles.name})")
    console.print(f"trust root (pin it as governance.trust_root on the runner host): "
                  f"{entry['sha256']}")


@trust_app.command("show")
def trust_show(as_json: JsonOpt = False) -> None:
    """Verify the trust lock and show who may sign what; exit 1 if roles.yaml is pending."""
    from stratops.governance_ops import trusted
    from stratops.settings import load_settings

    trust = trusted(load_settings())
    users = {u.name: sorted(u.roles) for u in trust.directory.users.values()}
    key_ids = {name: trust.directory.key_id_of(name) for name in users}
    info = {"lock": str(trust.lock_path), "entries": trust.head_seq,
            "root_sha256": trust.root_sha, "head_sha256": trust.head_sha,
            "roles_file_sha256": trust.on_disk_sha, "pending": trust.pending,
            "users": users, "key_ids": key_ids,
            "revoked_keys": sorted(trust.directory.revoked)}
    if as_json:
        print_json(info)
    else:
        console.print(f"trust lock {trust.lock_path}: {trust.head_seq} entries, verified; "
                      f"root {trust.root_sha[:16]}..., head {trust.head_sha[:16]}...")
        for name, roles in sorted(users.items()):
            console.print(f"  {name}: {', '.join(roles)} (key {key_ids[name]})")
    problem = trust.pending_problem()
    if problem:
        console.print(f"[red]{problem}[/]")
        raise typer.Exit(EXIT_FAILED)
