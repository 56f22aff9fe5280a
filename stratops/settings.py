"""Typed settings: ``stratops.yaml`` at the project root, overridden by ``STRATOPS_*`` variables.

Nested keys use ``__`` in variable names: ``STRATOPS_DATA__IMPORT_MAX_BYTES=2147483648``.
Unknown keys are refused, so a typo in a reviewed file fails loudly instead of being ignored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from live.orders.retry import RetryPolicy
from pipelines.datasets.validation import ValidationConfig
from pipelines.research.config import ImpactLaw, ResearchSettings
from strategies.errors import BadInputError
from stratops.alert_settings import AlertSettings
from stratops.anomaly_settings import AnomalySettings
from stratops.bus_settings import BusSettings
from stratops.clock_settings import ClockSettings
from stratops.compliance_settings import ComplianceSettings, RetentionSettings
from stratops.dagster_settings import DagsterInstanceSettings
from stratops.market_settings import MarketSettings
from stratops.observability_settings import ObservabilitySettings
from stratops.offhost_settings import OffhostCheckpointSettings
from stratops.ops_settings import OpsSettings
from stratops.preopen_settings import PreopenSettings
from stratops.snapshot_settings import SnapshotSettings
from stratops.venue_settings import RoutingRuleName, VenueSettings, check_venue_list

SETTINGS_FILE = "stratops.yaml"
LOCAL_ARTIFACTS = "mlflow/artifacts"
REMOTE_ARTIFACT_ROOT = "mlflow-artifacts:/stratops"
ROOT_ENV = "STRATOPS_ROOT"


class SettingsError(BadInputError, ValueError):
    """Settings that cannot be loaded or do not validate."""


class DataSettings(BaseModel):
    """Where datasets live and how large an import may be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    import_max_bytes: int = Field(2**30, gt=0, description="largest file `data import` reads")


class GovernanceSettings(BaseModel):
    """Where promotion state, audit trail, roles and policy live (README, Governance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = Field("sqlite:///.stratops/governance.db",
                        description="requests, approvals, config versions, audit trail")
    roles_file: Path = Path("roles.yaml")
    policy_file: Path = Path("policy.yaml")
    gates_file: Path = Field(Path("gates.yaml"),
                             description="the reviewed CI gates (research verdicts, approvals)")
    risk_file: Path = Field(Path("risk.yaml"), description="the reviewed risk limits")
    playbooks_file: Path = Field(Path("playbooks.yaml"),
                                 description="the reviewed incident playbooks (alert code -> "
                                             "remediation); none when the file is absent")
    compliance_file: Path = Field(
        Path("compliance.yaml"),
        description="the reviewed compliance rules (OTR, self-trade, SEBI algo framework)")
    keys_dir: Path | None = Field(
        None, description="private keys folder (default ~/.config/stratops/keys)")
    signature_ttl_seconds: int = Field(900, gt=0, description="how long a signature is valid")
    trust_root: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$",
        description="pinned SHA-256 of the trust lock's genesis roles file: a lock that does "
                    "not start there is refused (set it in the runner's deployment)")
    checkpoint_dir: Path = Field(
        Path(".stratops/checkpoints"),
        description="audit.jsonl: checkpoints signed by the acting user after each command")


class ServeSettings(BaseModel):
    """``stratops live serve``: its timings, day reports and pager (README, Running as a
    service)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preopen_minutes: float = Field(15, ge=0, description="open the day this long before the open")
    page_every_minutes: float = Field(5, gt=0, description="page again while holding")
    wake_seconds: float = Field(30, gt=0, le=600,
                                description="longest sleep between polls (stop, desk, token)")
    flatten_wait_minutes: float = Field(10, ge=0,
                                        description="wait for the cutoff flatten's confirmation")
    report_dir: Path = Field(Path("data/live/days"),
                             description="<mode>/<YYYY-MM-DD>/: each day's reconciliation")
    page_command: list[str] | None = Field(
        None, description="argv run per page with the page as JSON on stdin (a script path, "
                          "never a secret)")


class KiteSettings(BaseModel):
    """Zerodha Kite Connect (README, Trading through Kite). Credentials come from the
    environment or the owner-only secret file, never from this file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = Field("https://api.kite.trade", pattern=r"^https?://[^\s]+$",
                      description="the REST root (tests point it at a loopback fake Kite)")
    secret_file: Path = Field(
        Path(".stratops/kite/session.json"),
        description="api_key, api_secret, access_token, issued_at (JSON, mode 0600, yours)")
    max_command_wait_ms: int = Field(
        250, gt=0, le=5000,
        description="an order command that would wait longer for the rate limiter is refused")
    timeout_s: float = Field(7.0, gt=0, le=60, description="HTTP timeout of each Kite call")


class ExecutionSettings(BaseModel):
    """How orders are sent (README, Order retries)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry: RetryPolicy = Field(default_factory=RetryPolicy)
class HaSettings(BaseModel):
    """A hot-standby pair of runners fenced by a leader lease (README, Hot standby
    (PostgreSQL))."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="run under the journal's leader lease (a "
                                             "PostgreSQL journal only); --standby follows")
    lease_ttl_seconds: float = Field(3.0, ge=0.5, le=60.0,
                                     description="a silent leader is replaced after this")
    poll_seconds: float = Field(0.1, gt=0.0, le=5.0,
                                description="how often a standby reads the journal and lease")
    holder: str = Field("", max_length=64,
                        description="this instance's name in the lease (default host:pid)")


class LiveSettings(BaseModel):
    """The live runner's stores (README, Live runner)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: Literal["paper", "kite"] = Field(
        "paper", description="where canary/live orders go; shadow is always paper")
    kite: KiteSettings = Field(default_factory=KiteSettings)

    journal_url: str = Field("sqlite:///.stratops/journal-{mode}.db",
                             description="one journal per mode; {mode} is substituted")
    sqlite_synchronous: Literal["full", "normal"] = Field(
        "full", description="commit durability of the runner's SQLite journal and paper "
                            "exchange books: full (an fsync per commit: survives power loss) "
                            "or normal (WAL without it: survives the process being killed, "
                            "may lose the last commits on power loss or an OS crash)")
    paper_exchange_url: str = "sqlite:///.stratops/paper_exchange.db"
    shadow_exchange_url: str = Field("sqlite:///.stratops/shadow_exchange.db",
                                     description="virtual fills of shadow mode")
    paper_seed: int = 7
    paper_twin: bool = Field(
        False, description="run a paper twin of each session's versions beside it, on each bar "
                           "live handled (own journal {mode}_twin, paper exchange, thread) "
                           "and reconcile it daily")
    paper_twin_exchange_url: str = Field(
        "sqlite:///.stratops/twin_exchange.db", description="the paper twin's exchange book")
    paper_twin_max_lag_bars: int = Field(
        10_000, ge=1, description="the paper twin is disabled for the session (twin_failed) "
                                  "when this many bars wait for it")
    paper_twin_finish_seconds: float = Field(
        60.0, gt=0, description="at the feed's end, how long the twin may take to trade its "
                                "backlog before it is abandoned (twin_failed)")
    paper_fill_mode: Literal["parity", "realism"] = Field(
        "parity", description="paper fills: the simulator's rules, or an intrabar path with "
                              "market impact (README, Impact and slippage)")
    max_history_sessions: int = Field(5, ge=1, description="bar history kept per symbol")
    checkpoint_dir: Path = Field(
        Path(".stratops/checkpoints"),
        description="journal-<mode>.jsonl: signed journal heads, outside the journal's store")
    checkpoint_every: int = Field(1000, gt=0, le=10_000,
                                  description="journal entries between checkpoints")
    service_key_file: Path = Field(
        Path(".stratops/service/runner.key"),
        description="the runner's service identity key (0600, the service's Unix user only)")
    service_user: str = Field("runner", description="who that key is in the roles file")
    serve: ServeSettings = Field(default_factory=ServeSettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    venues: tuple[VenueSettings, ...] = Field(
        (), description="two or more: orders go through the smart order router")
    routing_rule: RoutingRuleName = Field("best_liquidity",
                                          description="how the router chooses or splits")

    @field_validator("venues")
    @classmethod
    def _venues_distinct(cls, venues: tuple[VenueSettings, ...]) -> tuple[VenueSettings, ...]:
        return check_venue_list(venues)
    clock: ClockSettings = Field(default_factory=ClockSettings)
    snapshots: SnapshotSettings = Field(default_factory=SnapshotSettings)
    ha: HaSettings = Field(default_factory=HaSettings)

    @model_validator(mode="after")
    def _standby_needs_postgres(self) -> LiveSettings:
        if self.ha.enabled and not self.journal_url.startswith("postgresql"):
            raise ValueError(
                f"live.ha.enabled=true with live.journal_url={self.journal_url!r}: a hot "
                "standby needs a PostgreSQL journal (the SQLite journal has one writer)")
        return self
    bus: BusSettings = Field(default_factory=BusSettings)

    @field_validator("journal_url")
    @classmethod
    def _one_journal_per_mode(cls, url: str) -> str:
        if url.startswith("postgresql") and "{mode}" not in url:
            raise ValueError(
                f"{url!r}: a PostgreSQL journal URL must contain {{mode}} (e.g. "
                "postgresql://host/stratops_journal_{mode}), or shadow, canary and live "
                "would share one journal and mix virtual with real fills; create one "
                "database per mode (createdb stratops_journal_shadow ...)")
        return url


class InstrumentSettings(BaseModel):
    """The instrument master and roll rule the live runner trades by (README, Instruments,
    contracts and roll)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    master_file: Path = Field(
        Path("data/instruments/kite_instruments.csv"),
        description="Kite instruments dump the runner takes contracts, lots and ticks from "
                    "(default: the DVC stage's SYNTHETIC master; a real one: `stratops data "
                    "import-instruments` then data/imports/<name>.csv)")
    roll_days_before_expiry: int = Field(
        1, ge=0, le=15, description="roll to the next contract this many NSE sessions "
                                     "before expiry (0: on the expiry day)")
    venues: tuple[str, ...] = Field(
        ("NSE",), description="venues whose versions trade futures contracts of the master")


class Settings(BaseSettings):
    """All stratops settings (see README, Configuration)."""

    model_config = SettingsConfigDict(
        env_prefix="STRATOPS_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    root: Path
    data: DataSettings = Field(default_factory=DataSettings)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    research: ResearchSettings = Field(default_factory=ResearchSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    instruments: InstrumentSettings = Field(default_factory=InstrumentSettings)
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    preopen: PreopenSettings = Field(default_factory=PreopenSettings)
    dagster_home: Path = Path(".dagster")
    dagster_instance: DagsterInstanceSettings = Field(default_factory=DagsterInstanceSettings)
    offhost_checkpoints: OffhostCheckpointSettings = Field(
        default_factory=OffhostCheckpointSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow/mlflow.db",
        description="sqlite:///<path>, postgresql://... or http(s)://<tracking server>")
    mlflow_artifact_root: str | None = Field(
        None, description="where new experiments keep artifacts: a folder (default "
                          "mlflow/artifacts) or a URI (mlflow-artifacts:/<path>, s3://...); "
                          "with an http(s) tracking URI the default is the server's proxied "
                          "store, mlflow-artifacts:/stratops")

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _known_tracking_scheme(cls, uri: str) -> str:
        if not uri.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg2://",
                               "http://", "https://")):
            raise ValueError(f"{uri!r}: use sqlite:///<path>, postgresql://... or "
                             "http(s)://<host>:<port> (an MLflow tracking server)")
        return uri

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # environment beats the file

    @model_validator(mode="after")
    def _impact_law_for_research(self) -> Settings:
        """``research.slippage: calibrated``: the impact law from the calibration file the
        live pre-trade estimate reads (literature values, said so, when there is none)."""
        if self.research.slippage != "calibrated" or self.research.impact_law is not None:
            return self
        from live.impact.calibration import load_impact_params

        params = load_impact_params(self.calibration_path())
        law = ImpactLaw(y=params.y, exponent=params.exponent,
                        source=f"{params.calibration_source}: {params.note}"[:400])
        object.__setattr__(self, "research", self.research.model_copy(
            update={"impact_law": law}))
        return self

    def calibration_path(self) -> Path:
        """The impact calibration file risk.yaml's ``execution.calibration_file`` names (the
        one the live pre-trade estimate reads)."""
        from live.risk.limits import load_risk_limits

        limits = load_risk_limits(self.path(self.governance.risk_file))
        return self.path(limits.execution.calibration_file)

    def path(self, relative: Path | str) -> Path:
        """Resolve a project-relative path against the root."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def gates_path(self) -> Path:
        """The reviewed gates file (``governance.gates_file``) resolved against the root."""
        return self.path(self.governance.gates_file)

    @property
    def dagster_home_path(self) -> Path:
        return self.path(self.dagster_home)

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI; a relative SQLite path resolves against the root."""
        prefix = "sqlite:///"
        uri = self.mlflow_tracking_uri
        if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
            return prefix + str(self.path(uri[len(prefix):]))
        return uri

    @property
    def remote_tracking(self) -> bool:
        """True when MLflow is reached through a tracking server (http or https)."""
        return self.mlflow_tracking_uri.startswith(("http://", "https://"))

    @property
    def artifact_root(self) -> Path | str:
        """Where new experiments keep artifacts: a local folder (resolved against the root)
        or a URI; by default ``mlflow/artifacts``, or ``mlflow-artifacts:/stratops`` (the
        tracking server's proxied store, readable from any host) for a remote server."""
        root = self.mlflow_artifact_root
        if root is None:
            return REMOTE_ARTIFACT_ROOT if self.remote_tracking else self.path(LOCAL_ARTIFACTS)
        if re.match(r"^[a-z][a-z0-9+.-]+:", root):  # a URI (a drive letter is one char)
            return root
        return self.path(root)


def find_root(start: Path | None = None) -> Path:
    """The project root: ``$STRATOPS_ROOT``, else the nearest folder above ``start`` (or the
    working directory) holding both ``dvc.yaml`` and ``pyproject.toml``."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    raise SettingsError(
        f"not inside a stratops project: no folder above {here} has dvc.yaml and "
        f"pyproject.toml; cd into the repository or set {ROOT_ENV}"
    )


def load_settings(root: Path | None = None) -> Settings:
    """Load ``stratops.yaml`` under ``root`` (if present) and the environment."""
    root = root or find_root()
    file = root / SETTINGS_FILE
    values: dict[str, Any] = {}
    if file.is_file():
        try:
            values = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"{file}: not valid YAML ({exc})") from exc
        if not isinstance(values, dict):
            raise SettingsError(f"{file}: top level must be a mapping of keys")
    try:
        return Settings(root=root, **values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise SettingsError(f"{file}: {problems}") from exc
