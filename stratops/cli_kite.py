"""``stratops kite login`` and ``stratops kite status``: Kite's daily login.

Kite access tokens die at 06:00 IST every day, so a person logs in each trading morning:
``stratops kite login`` prints the login URL; after logging in there, the browser is sent
to the app's redirect URL with ``request_token=...``; ``stratops kite login
--request-token TOKEN`` exchanges it for the day's access token and records it in the
owner-only secret file (``live.kite.secret_file``). ``stratops kite status`` checks the
token's freshness and asks Kite (``profile()``). No secret is ever printed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stratops.cli_common import JsonOpt, print_json
from stratops.errors import EXIT_FAILED

kite_app = typer.Typer(help="Zerodha Kite Connect: daily login and session status.",
                       no_args_is_help=True)


@kite_app.command("login")
def login(
    request_token: Annotated[str | None, typer.Option(
        help="the request_token from the login redirect; without it, print the login URL")]
    = None,
) -> None:
    """Print Kite's login URL, or exchange a request token for the day's access token."""
    from stratops.governance_ops import utc_now
    from stratops.kite_ops import login as exchange_token
    from stratops.kite_ops import login_url
    from stratops.settings import load_settings

    settings = load_settings()
    if request_token is None:
        typer.echo("log in at this URL; the redirect carries request_token=...:")
        typer.echo(login_url(settings))
        typer.echo("then: stratops kite login --request-token <request_token>")
        return
    status = exchange_token(settings, request_token, clock=utc_now)
    typer.echo(f"Kite session of {status.user_id}: access token recorded in "
               f"{status.access_token_from} (mode 0600), valid until "
               f"{status.expires_at.isoformat()}")


@kite_app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Exit 0 when the access token is fresh and Kite accepts it; 1 when stale or
    rejected; 2 when credentials are missing or the secret file is exposed."""
    from live.adapters.kite.credentials import KiteTokenStaleError
    from stratops.governance_ops import utc_now
    from stratops.kite_ops import KiteSessionRejectedError, session_status
    from stratops.settings import load_settings

    try:
        found = session_status(load_settings(), clock=utc_now)
    except (KiteTokenStaleError, KiteSessionRejectedError) as exc:
        if as_json:
            print_json({"ok": False, "reason": str(exc)})
        else:
            typer.secho(f"Kite session NOT usable: {exc}", fg="red", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        print_json({"ok": True, "user_id": found.user_id,
                    "issued_at": found.issued_at.isoformat(),
                    "expires_at": found.expires_at.isoformat(),
                    "api_key_from": found.api_key_from,
                    "access_token_from": found.access_token_from})
        return
    typer.echo(f"Kite session of {found.user_id}: token issued {found.issued_at.isoformat()} "
               f"(from {found.access_token_from}), valid until {found.expires_at.isoformat()}")
