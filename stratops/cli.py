"""The ``stratops`` command: one entry point, a subcommand per capability.

Exit codes scripts can rely on: 0 success; 1 a check or validation failed; 2 bad input or
configuration (the message names the file, field or value); 3 an unexpected internal error.
Heavy libraries (Dagster, DVC, GX, vectorbt) are imported inside commands, never at import
time, so ``stratops --help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import typer

from strategies.errors import StratopsError
from stratops import (
    cli_alerts,
    cli_archive,
    cli_backtest,
    cli_checkpoints,
    cli_compliance,
    cli_data,
    cli_drill,
    cli_eod,
    cli_governance,
    cli_kite,
    cli_live,
    cli_observability,
    cli_ops,
    cli_preopen,
    cli_report,
    cli_research,
    cli_risk,
    cli_run,
    cli_serve,
    cli_svc,
    cli_tca,
)
from stratops.cli_common import colour
from stratops.cli_execution import execution_app
from stratops.errors import EXIT_INTERNAL, EXIT_OK, exit_code_for

app = typer.Typer(
    name="stratops",
    help="Intraday strategies from research to production: data, research, promotion, live.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(cli_data.app, name="data")
app.command("run")(cli_run.run)
app.command("ui")(cli_run.ui)
app.command("backtest")(cli_backtest.backtest)
app.command("grid")(cli_backtest.grid)
app.add_typer(cli_research.research_app, name="research")
app.add_typer(cli_research.gate_app, name="gate")
app.add_typer(cli_governance.keys_app, name="keys")
app.add_typer(cli_governance.promote_app, name="promote")
app.add_typer(cli_governance.deploy_app, name="deploy")
app.add_typer(cli_governance.audit_app, name="audit")
app.add_typer(cli_governance.config_app, name="config")
app.add_typer(cli_governance.trust_app, name="trust")
cli_live.live_app.command("serve")(cli_serve.serve)
app.add_typer(cli_live.live_app, name="live")
app.add_typer(cli_live.journal_app, name="journal")
app.add_typer(cli_checkpoints.checkpoints_app, name="checkpoints")
app.add_typer(cli_kite.kite_app, name="kite")
app.command("kill")(cli_risk.kill)
app.command("preopen")(cli_preopen.preopen)
app.add_typer(cli_drill.drill_app, name="drill")
app.add_typer(cli_eod.eod_app, name="eod")
app.add_typer(cli_risk.rearm_app, name="rearm")
app.add_typer(cli_risk.risk_app, name="risk")
app.add_typer(execution_app, name="execution")
app.add_typer(cli_tca.tca_app, name="tca")
app.add_typer(cli_report.report_app, name="report")
app.add_typer(cli_compliance.compliance_app, name="compliance")
app.add_typer(cli_archive.archive_app, name="archive")
app.add_typer(cli_svc.svc_app, name="svc")
app.add_typer(cli_ops.ops_app, name="ops")
app.add_typer(cli_alerts.alerts_app, name="alerts")
app.add_typer(cli_alerts.playbook_app, name="playbook")
app.add_typer(cli_observability.trace_app, name="trace")
app.command("watchdog")(cli_observability.watchdog)


@app.command("version")
def version() -> None:
    """Print the stratops version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("stratops"))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map expected errors to clean messages and exit codes."""
    try:
        app(args=argv, standalone_mode=True)  # click reports usage errors itself (exit 2)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except StratopsError as exc:  # the error's family decides the exit code
        code = exit_code_for(exc)
        if code == EXIT_INTERNAL:
            return _internal_error(exc)
        typer.secho(f"error: {exc}", fg="red", err=True, color=colour())
        return code
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="red", err=True, color=colour())
        return 130
    except Exception as exc:
        return _internal_error(exc)
    return EXIT_OK


def _internal_error(exc: Exception) -> int:
    """Report an error the command did not expect (exit 3; the traceback with
    ``STRATOPS_DEBUG=1``)."""
    if os.environ.get("STRATOPS_DEBUG"):
        raise exc
    typer.secho(
        f"internal error: {type(exc).__name__}: {exc}\n"
        "(set STRATOPS_DEBUG=1 for the traceback)", fg="red", err=True, color=colour(),
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
