"""``stratops ops serve|login``: the operator web page and signing in to it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from stratops.cli_governance import AsOpt

console = Console()
ops_app = typer.Typer(help="The operator web page (live view and governed actions).",
                      no_args_is_help=True)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@ops_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default ops.host)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default ops.port)")] = None,
) -> None:
    """Serve the operator page: positions and P&L, risk, orders, fills, alerts, health,
    promotion state and traces from the journal, live; actions need a signed sign-in."""
    import uvicorn

    from stratops.ops_app import create_app
    from stratops.ops_server import OpsServer
    from stratops.settings import load_settings

    settings = load_settings()
    bind, listen = host or settings.ops.host, port or settings.ops.port
    if bind not in LOOPBACK:
        console.print(f"[yellow]binding {bind}: the page is plain HTTP; put a TLS proxy in "
                      "front before others reach it[/]")
    server = OpsServer(settings)
    server.start()
    console.print(f"operator page for the {settings.ops.mode} journal: http://{bind}:{listen}/")
    try:
        uvicorn.run(create_app(server), host=bind, port=listen, log_level="warning")
    finally:
        server.stop()


@ops_app.command("login")
def login(
    challenge: Annotated[str, typer.Option(help="the challenge the page shows")],
    as_user: AsOpt = None,
) -> None:
    """Sign the page's challenge with your own key file; paste the printed token into the
    page. The grant lets the page's session sign a kill, a pause or a re-arm request as you,
    until it expires (ops.session_ttl_seconds); nothing else."""
    from live.governance.delegation import grant_payload
    from live.governance.identity import load_actor
    from stratops.governance_ops import acting_user, directory, keys_dir, utc_now
    from stratops.ops_auth import encode_token
    from stratops.settings import load_settings

    settings = load_settings()
    payload = grant_payload(challenge)
    actor = load_actor(directory(settings), acting_user(as_user), keys_dir(settings))
    signature = actor.sign(payload, now=utc_now(),
                           ttl_seconds=settings.ops.session_ttl_seconds)
    console.print(f"signed a page session grant as {actor.user.name} (valid "
                  f"{settings.ops.session_ttl_seconds} s; kill switch and re-arm requests "
                  "only); paste this token into the page:", highlight=False)
    typer.echo(encode_token(payload, signature))
