"""The research side of the MLflow registry: record a walk-forward as runs and a strategy version.

One experiment and one registered model per strategy. A record is a parent run (chosen params,
walk-forward spec, summary metrics, lineage tags, report artifacts, and the overfitting
statistics' inputs: ``dsr.*``/``pbo.*`` metrics, the T x N trial matrix ``trials.parquet``
and the stitched OOS returns ``oos_returns.parquet`` under ``overfitting/``, so DSR and PBO
can be recomputed from MLflow alone), one child run per fold,
and the strategy logged as a models-from-code pyfunc (no pickle) and registered as a version
tagged with its lineage and candidate key. Recording the same candidate again returns the
version already registered. Everything goes through one :class:`mlflow.MlflowClient` bound to
this registry's URIs; MLflow's global tracking and registry URIs are never touched, so two
registries (SQLite and PostgreSQL) can live in one process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
import yaml
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import AnyType, ColSpec, Schema

import strategies
from pipelines.research.gates import GateVerdict
from pipelines.research.lineage import TAG_PREFIX, Lineage, strategies_source_hash
from strategies.confidence import CONFIDENCE_DIR, ConfidenceModel, load_confidence
from strategies.enable_matrix import EnableMatrix
from strategies.ensemble_version import MANIFEST_FILE as ENSEMBLE_MANIFEST
from strategies.ensemble_version import EnsembleManifest, parse_manifest
from strategies.errors import BadInputError, StratopsError
from strategies.names import NAME, path_under, validate_name
from strategies.params import params_hash
from strategies.regime_model import (
    GOVERNANCE_DIR,
    SignalGovernance,
    add_enable_matrix,
    load_governance,
)
from strategies.roster import UnknownStrategyError, get_strategy
from strategies.version_config import VersionConfig

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

    from pipelines.research.walk_forward import WalkForwardReport

# Quiet by default: progress bars and INFO chatter would drown the research summary.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
logging.getLogger("mlflow").setLevel(logging.WARNING)

PYFUNC_MODEL_PATH = Path(strategies.__file__).parent / "pyfunc_model.py"
MODEL_NAME = "model"  # the logged model's name inside a run
PIP_PACKAGES = ("mlflow", "numba", "numpy", "pandas", "pydantic", "pyyaml")
NONFINITE_METRIC_TAG = f"{TAG_PREFIX}metric."  # + name: a NaN/inf metric, kept as a tag
CANDIDATE_KEY_TAG = f"{TAG_PREFIX}candidate_key"
RUN_ID_TAG = f"{TAG_PREFIX}run_id"
MODEL_DIGEST_TAG = f"{TAG_PREFIX}model_digest"
SOURCE_HASH_TAG = f"{TAG_PREFIX}strategies_source_hash"
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own marker of a nested run
OVERFITTING_DIR = "overfitting"  # run artifact folder of the DSR/PBO inputs
TRIALS_FILE = "trials.parquet"  # T test sessions x N combinations, per-session returns
OOS_RETURNS_FILE = "oos_returns.parquet"  # the stitched OOS returns (column oos_return)
PBO_BLOCKS_TAG = f"{TAG_PREFIX}pbo.blocks"
PBO_BLOCKS = ("CSCV on trials.parquet rows in time order; block k of S holds rows "
              "floor(k*T/S) .. floor((k+1)*T/S)-1; per-observation Sharpe (ddof=1); IS ties "
              "take the worst OOS; OOS ranks averaged; logit <= 0 counts as overfit")
DSR_TRIALS_TAG = f"{TAG_PREFIX}dsr.trials"
DSR_TRIALS = ("N and V from the trials.parquet columns that vary (a flat column never "
              "traded); SR, skew, raw kurtosis and T from oos_returns.parquet (moment "
              "estimators, ddof=1 Sharpe)")
GATE_WARNINGS_TAG = f"{TAG_PREFIX}gate_warnings"
BATCH = 100  # MLflow accepts at most 100 params and 100 tags per log_batch
# Written by MLflow itself into a model folder loaded by models:/ URI - in place, inside the
# artifact store, when the store is local - so it is not part of the registered artifacts.
MLFLOW_WRITES = frozenset({"registered_model_meta"})


class RegistryError(BadInputError, LookupError):
    """A registered model, version or alias that does not exist, or a version that cannot be
    loaded safely (not models-from-code, artifacts changed since registration)."""


class RecordInputError(StratopsError, ValueError):
    """Inputs to :meth:`ResearchRegistry.record` that do not describe one candidate."""


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """A strategy version in the registry; ``reused`` when a record found it already there."""

    strategy: str
    version: int
    run_id: str
    model_uri: str
    reused: bool
    tags: dict[str, str]


def model_signature() -> ModelSignature:
    """Input: a bar frame (``ts`` any, as MLflow's datetime type refuses timezone-aware
    stamps); output: ``ts``, ``symbol`` and the four signal columns."""
    prices = [ColSpec("double", c) for c in ("open", "high", "low", "close", "volume")]
    signals = [ColSpec("boolean", c)
               for c in ("long_entry", "long_exit", "short_entry", "short_exit")]
    any_type = AnyType()  # type: ignore[no-untyped-call]  # mlflow: AnyType() is unannotated
    head = [ColSpec(any_type, "ts"), ColSpec("string", "symbol")]
    return ModelSignature(inputs=Schema([*head, *prices]), outputs=Schema([*head, *signals]))


def model_digest(model_dir: Path) -> str:
    """SHA-256 over a saved model's files (relative names and bytes); ``__pycache__`` and
    MLflow's own ``registered_model_meta`` are skipped."""
    digest = hashlib.sha256()
    files = sorted(p for p in model_dir.rglob("*")
                   if p.is_file() and "__pycache__" not in p.relative_to(model_dir).parts
                   and p.relative_to(model_dir).as_posix() not in MLFLOW_WRITES)
    for path in files:
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def store_uri(tracking_uri: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg2://``: SQLAlchemy 2.1 maps the bare scheme to
    psycopg 3, but the project's PostgreSQL driver is psycopg2. Other URIs are unchanged."""
    if tracking_uri.startswith("postgresql://"):
        return "postgresql+psycopg2://" + tracking_uri.removeprefix("postgresql://")
    return tracking_uri


def is_uri(text: str) -> bool:
    """True for ``scheme:...`` (``mlflow-artifacts:/x``, ``s3://b``, ``file:///x``); a
    Windows drive letter is one character, not a scheme."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", text) is not None


def _private_sqlite(path: Path) -> None:
    """The store's folder and an empty database file, created 0600 before MLflow opens it
    (SQLite gives its ``-wal``/``-shm`` files the same mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _pip_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in PIP_PACKAGES]


def _split_metrics(metrics: Mapping[str, float]) -> tuple[dict[str, float], dict[str, str]]:
    """Finite metrics, and the non-finite ones as tags (MLflow would clamp inf)."""
    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
    other = {f"{NONFINITE_METRIC_TAG}{k}": repr(float(v))
             for k, v in metrics.items() if not math.isfinite(v)}
    return finite, other


def _summary(verdict: GateVerdict, lineage: Lineage) -> str:
    failed = [c.name for c in verdict.checks if not c.passed]
    head = "PASS" if verdict.passed else "FAIL"
    detail = f" (failed: {', '.join(failed)})" if failed else ""
    return (f"{head}: {len(verdict.checks) - len(failed)}/{len(verdict.checks)} gate checks"
            f"{detail}; {lineage.dataset}/{lineage.symbol}, params {lineage.params_hash}, "
            f"code {lineage.code_revision}, verdict {verdict.digest()[:12]}")


def _not_found(exc: MlflowException) -> bool:
    return exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def _check_record_inputs(report: WalkForwardReport, verdict: GateVerdict, lineage: Lineage,
                         artifacts_dir: Path, model_config: VersionConfig) -> None:
    try:
        spec = get_strategy(lineage.strategy)
        computed_hash = params_hash(spec.make_params(**lineage.params))
    except (UnknownStrategyError, ValueError, TypeError) as exc:
        raise RecordInputError(f"lineage strategy/params {lineage.strategy!r} "
                               f"{lineage.params!r}: {exc}") from exc
    pairs = [
        ("report.strategy", report.strategy, lineage.strategy),
        ("verdict.strategy", verdict.strategy, lineage.strategy),
        ("model_config.strategy", model_config.strategy, lineage.strategy),
        ("report.symbol", report.symbol, lineage.symbol),
        ("model_config.symbols", model_config.symbols, report.traded_symbols),
        ("report.chosen_params", report.chosen_params(), lineage.params),
        ("model_config.params", model_config.params_dict, lineage.params),
        ("params_hash of lineage.params", computed_hash, lineage.params_hash),
        ("verdict.digest", verdict.digest(), lineage.verdict_digest),
        ("verdict.gates_digest", verdict.gates_digest, lineage.gates_digest),
        ("verdict.passed", verdict.passed, lineage.verdict_passed),
    ]
    wrong = [f"{name} {got!r} != lineage {want!r}" for name, got, want in pairs if got != want]
    if wrong:
        raise RecordInputError("record inputs disagree: " + "; ".join(wrong))
    if not artifacts_dir.is_dir():
        raise RecordInputError(f"artifacts_dir {artifacts_dir} is not a directory")


@contextmanager
def _pickle_disallowed() -> Iterator[None]:
    """``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`` for the duration (then restored)."""
    name = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def candidate_key(lineage: Lineage, governance: SignalGovernance | None,
                  matrix: EnableMatrix | None = None,
                  confidence: ConfidenceModel | None = None,
                  symbols: tuple[str, ...] = ()) -> str:
    """The lineage's candidate key; a version of several ``symbols`` (a joint
    walk-forward's) combined with them, so it is never the one-symbol version reused; with
    signal governance artifacts, combined with their manifest's digest (and the enable
    matrix's text), so a retrained classifier, drift reference or matrix is a new version
    (the same ones are the same candidate); with a confidence calibrator, combined with its
    manifest's digest too."""
    key = lineage.candidate_key()
    if len(symbols) > 1:
        key = hashlib.sha256(f"{key}:symbols={','.join(symbols)}".encode()).hexdigest()
    if governance is not None:
        extra = "" if matrix is None else \
            ":" + hashlib.sha256(matrix.dumps().encode()).hexdigest()
        key = hashlib.sha256(f"{key}:{governance.digest}{extra}".encode()).hexdigest()
    if confidence is not None:
        key = hashlib.sha256(f"{key}:confidence:{confidence.digest}".encode()).hexdigest()
    return key


def _check_code_model(model_dir: Path, uri: str) -> None:
    flavors = Model.load(str(model_dir)).flavors
    pyfunc = flavors.get("python_function", {})
    if set(flavors) != {"python_function"} or "model_code_path" not in pyfunc \
            or "python_model" in pyfunc:
        raise RegistryError(f"{uri} is not a models-from-code pyfunc (flavors "
                            f"{sorted(flavors)}); refusing to load it")


def read_code_model_config(model_dir: Path, uri: str) -> dict[str, Any]:
    """The ``model_config`` of a saved models-from-code pyfunc, read as data: the ``MLmodel``
    YAML (``yaml.safe_load``), flavor ``python_function``, key ``config``. The artifact's code
    file must be byte-equal to the installed ``strategies/pyfunc_model.py``; it is compared,
    never imported."""
    try:
        meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"{uri}: unreadable MLmodel file ({exc})") from exc
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    if not isinstance(pyfunc, dict) or not isinstance(flavors, dict) or set(flavors) != {
            "python_function"} \
            or "python_model" in pyfunc or not isinstance(pyfunc.get("model_code_path"), str):
        raise RegistryError(f"{uri} is not a models-from-code pyfunc; refusing it")
    code = model_dir / Path(pyfunc["model_code_path"]).name
    if code.name != PYFUNC_MODEL_PATH.name or not code.is_file() \
            or code.read_bytes() != PYFUNC_MODEL_PATH.read_bytes():
        raise RegistryError(f"{uri}: its {code.name} differs from the installed "
                            f"{PYFUNC_MODEL_PATH.name}; refusing the version")
    config = pyfunc.get("config")
    if not isinstance(config, dict):
        raise RegistryError(f"{uri}: MLmodel python_function.config is {config!r}, not a "
                            "mapping")
    return config


def _check_source_hash(version: RegisteredVersion, expected: str | None) -> None:
    """The version's recorded (and, when given, approved) ``strategies_source_hash`` must
    equal the installed strategies code's."""
    installed = strategies_source_hash()
    recorded = version.tags.get(SOURCE_HASH_TAG)
    for label, want in (("recorded", recorded), ("approved", expected)):
        if (label == "recorded" or want is not None) and want != installed:
            raise RegistryError(
                f"{version.model_uri}: {label} strategies_source_hash {want!r} != installed "
                f"{installed}; the installed strategies code is not the version's")


class ResearchRegistry:
    """Experiments, runs and registered strategy versions in one MLflow store.

    Parameters
    ----------
    tracking_uri
        ``sqlite:///<abs path>/mlflow.db`` or ``postgresql://...`` (run on psycopg2); also
        the registry URI.
        ``http(s)://host:port`` reaches a tracking server instead (``mlflow server``), which
        holds the store: another host then sees the same versions.
    artifact_root
        Folder under which each strategy's experiment keeps its artifacts, or a URI such as
        ``mlflow-artifacts:/stratops`` - the tracking server's proxied artifact store
        (``mlflow server --serve-artifacts --artifacts-destination ...``), which any host
        with the tracking URI can read; it needs an ``http(s)://`` tracking URI.
    create
        False for readers: a SQLite store that does not exist is reported
        (:class:`RegistryError`), never created empty.
    """

    def __init__(self, tracking_uri: str, artifact_root: Path | str, *,
                 create: bool = True) -> None:
        if isinstance(artifact_root, str) and not is_uri(artifact_root):
            artifact_root = Path(artifact_root)
        if isinstance(artifact_root, str) and artifact_root.startswith("mlflow-artifacts:") \
                and not tracking_uri.startswith(("http://", "https://")):
            raise RegistryError(
                f"artifact root {artifact_root!r} is a tracking server's proxied store, but "
                f"the tracking URI {tracking_uri!r} is not http(s)://: point "
                "mlflow_tracking_uri at that server (mlflow server --serve-artifacts)")
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.create = create
        self._client: mlflow.MlflowClient | None = None

    def experiment_location(self, strategy: str) -> str:
        """The artifact location of ``strategy``'s experiment (a URI)."""
        name = validate_name(strategy, field="strategy")
        if isinstance(self.artifact_root, Path):
            return path_under(self.artifact_root.absolute(), name).as_uri()
        return f"{self.artifact_root.rstrip('/')}/{name}"

    @property
    def client(self) -> mlflow.MlflowClient:
        """The client bound to this registry's store (created on first use)."""
        if self._client is None:
            if self.tracking_uri.startswith("sqlite:///"):
                path = Path(self.tracking_uri.removeprefix("sqlite:///"))
                if not self.create and not path.is_file():
                    raise RegistryError(
                        f"no MLflow store at {path}: nothing has been recorded here yet "
                        "(stratops research run), or mlflow_tracking_uri "
                        "(STRATOPS_MLFLOW_TRACKING_URI) points elsewhere")
                _private_sqlite(path)
            uri = store_uri(self.tracking_uri)
            self._client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        return self._client

    def prepare_store(self) -> None:
        """Create the store (and bring its schema up to date) now: before research runs
        start at once in several processes, which would otherwise race to migrate a new
        SQLite store."""
        self.client.search_experiments(max_results=1)

    # -- recording -------------------------------------------------------------------------

    def record(self, report: WalkForwardReport, verdict: GateVerdict, lineage: Lineage,
               artifacts_dir: Path, model_config: VersionConfig,
               input_example: pd.DataFrame, governance_dir: Path | None = None,
               governance_metrics: Mapping[str, float] | None = None,
               enable_matrix: EnableMatrix | None = None,
               confidence_dir: Path | None = None) -> RegisteredVersion:
        """Record a walk-forward and register its strategy version, or return the version
        already registered for the same candidate key (``reused=True``, nothing created).

        ``governance_dir`` (the regime classifier and drift reference,
        :mod:`strategies.regime_model`) is copied into the model's files, so the version's
        ``model_digest`` covers it; ``governance_metrics`` go on the parent run. An
        ``enable_matrix`` (only with ``governance_dir``) is written into the version's copy
        of the folder and listed in its manifest (:func:`add_enable_matrix`).
        ``confidence_dir`` (the calibrator, :mod:`strategies.confidence`) is copied like
        ``governance_dir``."""
        _check_record_inputs(report, verdict, lineage, artifacts_dir, model_config)
        if enable_matrix is not None and governance_dir is None:
            raise RegistryError(f"{lineage.strategy}: an enable matrix needs the regime "
                                "classifier it reads regimes with (governance_dir)")
        governance = None if governance_dir is None else load_governance(governance_dir)
        confidence = None if confidence_dir is None else load_confidence(confidence_dir)
        key = candidate_key(lineage, governance, enable_matrix, confidence,
                            model_config.symbols)
        found = self._find_candidate(lineage.strategy, key)
        if found is not None:
            return found
        experiment_id = self._experiment(lineage.strategy)
        run_id = self._log_walk_forward(experiment_id, report, lineage)
        try:
            self.client.log_artifacts(run_id, str(artifacts_dir))
            self._log_overfitting_inputs(run_id, report)
            if governance_metrics:
                self._log(run_id, governance_metrics, {}, {})
            version = self._register(experiment_id, run_id, verdict, lineage, model_config,
                                     input_example, governance_dir, key, enable_matrix,
                                     confidence_dir)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")
        return version

    def record_study(self, experiment: str, run_name: str, metrics: Mapping[str, float],
                     params: Mapping[str, Any], tags: Mapping[str, str],
                     artifacts_dir: Path) -> str:
        """One finished run of a study that registers no version (the portfolio study): its
        metrics (NaN/inf kept as tags), params, tags and the files of ``artifacts_dir``, in
        experiment ``experiment``; returns the run id."""
        experiment_id = self._experiment(experiment)
        run_id: str = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        try:
            self._log(run_id, metrics, params, tags)
            self.client.log_artifacts(run_id, str(artifacts_dir))
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def record_files(self, name: str, lineage: Lineage, verdict: GateVerdict,
                     metrics: Mapping[str, float], params: Mapping[str, Any],
                     tags: Mapping[str, str], artifacts_dir: Path, model_dir: Path,
                     description: str) -> RegisteredVersion:
        """Register a version of ``name`` whose model files are data only (``model_dir``,
        e.g. an ensemble's manifest; no pyfunc, nothing executable), gated like any version:
        one run with ``metrics`` (the gates re-read them at promotion), ``params``, the
        lineage and ``tags``, the files of ``artifacts_dir``, and a version tagged with the
        lineage, the candidate key and the files' ``model_digest``. The same candidate
        again returns the version already registered (``reused=True``)."""
        if lineage.strategy != name or lineage.verdict_passed != verdict.passed or \
                lineage.verdict_digest != verdict.digest():
            raise RecordInputError(f"{name}: lineage of {lineage.strategy!r} does not "
                                   "describe this verdict")
        key = lineage.candidate_key()
        found = self._find_candidate(name, key)
        if found is not None:
            return found
        experiment_id = self._experiment(name)
        run = self.client.create_run(experiment_id,
                                     run_name=f"{lineage.dataset}/{lineage.symbol}")
        run_id: str = run.info.run_id
        try:
            self._log(run_id, metrics, params, {**lineage.tags(), **tags})
            self.client.log_artifacts(run_id, str(artifacts_dir))
            self.client.log_artifacts(run_id, str(model_dir), artifact_path=MODEL_NAME)
            try:
                self.client.create_registered_model(name, description=description)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            version_tags = {**lineage.tags(), **tags, CANDIDATE_KEY_TAG: key,
                            RUN_ID_TAG: run_id, MODEL_DIGEST_TAG: model_digest(model_dir)}
            if verdict.warnings:
                version_tags[GATE_WARNINGS_TAG] = " | ".join(verdict.warnings)
            created = self.client.create_model_version(
                name, source=f"{run.info.artifact_uri.rstrip('/')}/{MODEL_NAME}",
                run_id=run_id, tags=version_tags, description=_summary(verdict, lineage))
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")
        return self._version(created, reused=False)

    def _find_candidate(self, strategy: str, key: str) -> RegisteredVersion | None:
        found = self.client.search_model_versions(
            filter_string=f"name = '{strategy}' and tags.`{CANDIDATE_KEY_TAG}` = '{key}'")
        if not found:
            return None
        return self._version(min(found, key=lambda mv: int(mv.version)), reused=True)

    def _experiment(self, strategy: str) -> str:
        location = self.experiment_location(strategy)
        experiment = self.client.get_experiment_by_name(strategy)
        if experiment is None:
            try:
                return self.client.create_experiment(strategy, artifact_location=location)
            except MlflowException as exc:  # created meanwhile by another recorder
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = self.client.get_experiment_by_name(strategy)
        if experiment is None or experiment.lifecycle_stage != "active":
            raise RegistryError(f"experiment {strategy!r} is deleted; restore or purge it")
        return experiment.experiment_id

    def _log(self, run_id: str, metrics: Mapping[str, float], params: Mapping[str, Any],
             tags: Mapping[str, str]) -> None:
        """All of it in as few ``log_batch`` calls as MLflow's batch limits allow."""
        finite, nonfinite = _split_metrics(metrics)
        now_ms = int(time.time() * 1000)
        m = [Metric(k, v, now_ms, 0) for k, v in finite.items()]
        p = [Param(k, str(v)) for k, v in params.items()]
        t = [RunTag(k, v) for k, v in {**tags, **nonfinite}.items()]
        for start in range(0, max(len(m), len(p), len(t)), BATCH):
            end = start + BATCH
            self.client.log_batch(run_id, metrics=m[start:end], params=p[start:end],
                                  tags=t[start:end])

    def _log_walk_forward(self, experiment_id: str, report: WalkForwardReport,
                          lineage: Lineage) -> str:
        """The parent run and one finished child run per fold; returns the parent's id."""
        parent: str = self.client.create_run(
            experiment_id, run_name=f"walk-forward {lineage.dataset}/{lineage.symbol}").info.run_id
        params = {**{f"param.{k}": v for k, v in report.chosen_params().items()},
                  **{f"wf.{k}": v for k, v in dataclasses.asdict(report.spec).items()},
                  "n_trials": report.n_trials, "n_folds": len(report.folds),
                  "n_skipped": len(report.skipped)}
        tags = {**lineage.tags(), PBO_BLOCKS_TAG: PBO_BLOCKS, DSR_TRIALS_TAG: DSR_TRIALS}
        self._log(parent, report.metrics, params, tags)
        for fold in report.folds:
            child = self.client.create_run(experiment_id, run_name=f"fold {fold.index}",
                                           tags={PARENT_RUN_TAG: parent}).info.run_id
            metrics = {**{f"is_{k}": v for k, v in fold.is_metrics.items()},
                       **{f"oos_{k}": v for k, v in fold.oos_metrics.items()},
                       "plateau": fold.plateau, "rank_correlation": fold.rank_correlation}
            fold_params = {**{f"param.{k}": v for k, v in fold.params.items()},
                           "train_start": fold.train[0], "train_end": fold.train[1],
                           "test_start": fold.test[0], "test_end": fold.test[1]}
            self._log(child, metrics, fold_params, {f"{TAG_PREFIX}fold": str(fold.index)})
            self.client.set_terminated(child, status="FINISHED")
        return parent

    def _log_overfitting_inputs(self, run_id: str, report: WalkForwardReport) -> None:
        """The trial matrix and the stitched OOS returns as Parquet under ``overfitting/``."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            report.trials.to_parquet(folder / TRIALS_FILE)
            report.oos_returns.to_frame().to_parquet(folder / OOS_RETURNS_FILE)
            self.client.log_artifacts(run_id, tmp, artifact_path=OVERFITTING_DIR)

    def _save_model(self, local: Path, run_id: str, model_id: str, artifact_location: str,
                    model_config: VersionConfig, input_example: pd.DataFrame,
                    governance_dir: Path | None = None,
                    enable_matrix: EnableMatrix | None = None,
                    confidence_dir: Path | None = None) -> str:
        """Save the pyfunc locally, prove it loads (config valid) without pickle; return its
        digest. (An input example may be shorter than the warm-up, so it is not predicted.)"""
        mlflow.pyfunc.save_model(
            path=str(local), python_model=str(PYFUNC_MODEL_PATH),
            model_config=model_config.to_json(),
            input_example=input_example, signature=model_signature(),
            pip_requirements=_pip_requirements(),
            mlflow_model=Model(artifact_path=artifact_location, model_uuid=model_id,
                               run_id=run_id, model_id=model_id))
        _check_code_model(local, str(local))
        with _pickle_disallowed():
            mlflow.pyfunc.load_model(str(local))
        for cache in list(local.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        if governance_dir is not None:
            shutil.copytree(governance_dir, local / GOVERNANCE_DIR)
            if enable_matrix is not None:
                add_enable_matrix(local / GOVERNANCE_DIR, enable_matrix)
        if confidence_dir is not None:
            shutil.copytree(confidence_dir, local / CONFIDENCE_DIR)
        return model_digest(local)

    def _register(self, experiment_id: str, run_id: str, verdict: GateVerdict,
                  lineage: Lineage, model_config: VersionConfig,
                  input_example: pd.DataFrame,
                  governance_dir: Path | None = None,
                  key: str | None = None,
                  enable_matrix: EnableMatrix | None = None,
                  confidence_dir: Path | None = None) -> RegisteredVersion:
        model = self.client.create_logged_model(experiment_id, name=MODEL_NAME,
                                                source_run_id=run_id, tags=lineage.tags())
        try:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / MODEL_NAME
                digest = self._save_model(local, run_id, model.model_id, model.artifact_location,
                                          model_config, input_example, governance_dir,
                                          enable_matrix, confidence_dir)
                self.client.log_model_artifacts(model.model_id, str(local))
        except BaseException:
            self.client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            raise
        self.client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        self.client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
        self._ensure_registered_model(lineage.strategy)
        tags = {**lineage.tags(), CANDIDATE_KEY_TAG: key or lineage.candidate_key(),
                RUN_ID_TAG: run_id, MODEL_DIGEST_TAG: digest}
        if verdict.warnings:
            tags[GATE_WARNINGS_TAG] = " | ".join(verdict.warnings)
        if len(model_config.symbols) > 1:  # a joint walk-forward's version
            tags[f"{TAG_PREFIX}symbols"] = ",".join(model_config.symbols)
        # source = the artifact location, not models:/<model_id>: the SQL registry would look
        # a models:/ source up through MLflow's *global* tracking URI.
        created = self.client.create_model_version(
            lineage.strategy, source=model.artifact_location, run_id=run_id, tags=tags,
            description=_summary(verdict, lineage), model_id=model.model_id)
        return self._version(created, reused=False)

    def _ensure_registered_model(self, strategy: str) -> None:
        try:
            self.client.create_registered_model(
                strategy, description=get_strategy(strategy).description)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def _version(mv: Any, *, reused: bool) -> RegisteredVersion:
        return RegisteredVersion(strategy=mv.name, version=int(mv.version), run_id=mv.run_id,
                                 model_uri=f"models:/{mv.name}/{mv.version}", reused=reused,
                                 tags=dict(mv.tags))

    def _latest(self, strategy: str) -> Any:
        versions = self.client.search_model_versions(
            filter_string=f"name = '{strategy}'", max_results=1,
            order_by=["version_number DESC"])
        if not versions:
            raise RegistryError(f"registered model {strategy!r} has no versions")
        return versions[0]

    def get_version(self, strategy: str, ref: str | int) -> RegisteredVersion:
        """Version ``ref`` of ``strategy``: a number, ``"latest"`` or ``"@<alias>"``."""
        ref = str(ref)
        if not isinstance(strategy, str) or not NAME.fullmatch(strategy):
            raise RegistryError(f"registered model name {strategy!r} is not valid (a strategy "
                                "name is [a-z][a-z0-9_]{0,62})")
        try:
            self.client.get_registered_model(strategy)
            if ref == "latest":
                return self._version(self._latest(strategy), reused=False)
            if ref.startswith("@") and len(ref) > 1:
                mv = self.client.get_model_version_by_alias(strategy, ref[1:])
            elif ref.isdigit():
                mv = self.client.get_model_version(strategy, ref)
            else:
                raise RegistryError(
                    f"version reference {ref!r} of {strategy!r} is not a number, 'latest' or "
                    "'@<alias>'")
        except MlflowException as exc:
            if not _not_found(exc):
                raise
            raise RegistryError(f"no version {ref!r} of registered model {strategy!r}: "
                                f"{exc.message}") from exc
        return self._version(mv, reused=False)

    def run_metrics(self, version: RegisteredVersion) -> dict[str, float]:
        """The parent run's metrics, non-finite ones restored from their tags."""
        data = self.client.get_run(version.run_id).data
        metrics = dict(data.metrics)
        for key, value in data.tags.items():
            if key.startswith(NONFINITE_METRIC_TAG):
                metrics[key.removeprefix(NONFINITE_METRIC_TAG)] = float(value)
        return metrics

    def artifact_digest(self, strategy: str, ref: str | int) -> str:
        """SHA-256 of the version's model files as stored now (recomputed, not the tag)."""
        version = self.get_version(strategy, ref)
        source = self.client.get_model_version_download_uri(strategy, str(version.version))
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=store_uri(self.tracking_uri)))
            return model_digest(local)

    def _download_checked(self, version: RegisteredVersion, tmp: str,
                          expected_digest: str | None) -> Path:
        """The version's model files in ``tmp``, after checking their digest against the
        recorded tag and, when given, ``expected_digest``."""
        expected = version.tags.get(MODEL_DIGEST_TAG)
        if expected is None:
            raise RegistryError(f"{version.model_uri} has no {MODEL_DIGEST_TAG} tag; "
                                "refusing an unverifiable model")
        source = self.client.get_model_version_download_uri(version.strategy,
                                                            str(version.version))
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=tmp, tracking_uri=store_uri(self.tracking_uri)))
        actual = model_digest(local)
        for label, want in (("recorded", expected), ("approved", expected_digest)):
            if want is not None and actual != want:
                raise RegistryError(f"{version.model_uri}: artifacts digest {actual} != "
                                    f"{label} {want}")
        return local

    def load_config(self, strategy: str, ref: str | int, *, expected_digest: str | None = None,
                    expected_source_hash: str | None = None) -> VersionConfig:
        """The version's config (:class:`VersionConfig`, decoded from ``model_config``), for
        the live path: nothing from the artifacts is imported or executed.

        Checks, in order: the artifacts' digest (against the recorded tag and, when given,
        ``expected_digest`` - the approved one); that the version is models-from-code with
        the installed ``pyfunc_model.py``; the config's keys, strategy (must be ``strategy``)
        and params (accepted by the installed params class); and that the version's
        ``strategies_source_hash`` (and ``expected_source_hash`` when given) equals the
        installed code's. Any failure raises :class:`RegistryError`.
        """
        version = self.get_version(strategy, ref)
        _check_source_hash(version, expected_source_hash)
        with tempfile.TemporaryDirectory() as tmp:
            local = self._download_checked(version, tmp, expected_digest)
            config = read_code_model_config(local, version.model_uri)
        try:
            parsed = VersionConfig.from_json(config)
        except ValueError as exc:
            raise RegistryError(f"{version.model_uri}: {exc}") from exc
        if parsed.strategy != strategy:
            raise RegistryError(f"{version.model_uri}: model_config strategy "
                                f"{parsed.strategy!r} is not {strategy!r}")
        return parsed

    def load_governance(self, strategy: str, ref: str | int, *,
                        expected_digest: str | None = None) -> SignalGovernance | None:
        """The version's regime classifier, drift reference and enable matrix (None:
        registered before versions carried them), read from the digest-checked model
        files - the same files the signed ``model_digest`` covers. Every governance file is
        checked against its manifest (:func:`strategies.regime_model.load_governance`); the
        classifier is read with skops' allow-list, never unpickled."""
        version = self.get_version(strategy, ref)
        with tempfile.TemporaryDirectory() as tmp:
            local = self._download_checked(version, tmp, expected_digest)
            if not (local / GOVERNANCE_DIR).exists():
                return None
            return load_governance(local / GOVERNANCE_DIR, strategy)

    def load_confidence(self, strategy: str, ref: str | int, *,
                        expected_digest: str | None = None) -> ConfidenceModel | None:
        """The version's confidence calibrator (None: registered without one), read from
        the digest-checked model files with skops' allow-list
        (:func:`strategies.confidence.load_confidence`), never unpickled."""
        version = self.get_version(strategy, ref)
        with tempfile.TemporaryDirectory() as tmp:
            local = self._download_checked(version, tmp, expected_digest)
            if not (local / CONFIDENCE_DIR).exists():
                return None
            return load_confidence(local / CONFIDENCE_DIR)

    def load_ensemble(self, name: str, ref: str | int, *,
                      expected_digest: str | None = None) -> EnsembleManifest:
        """An ensemble version's manifest (``ensemble.json``: members at their versions and
        model digests, resolver, priority order), read as data from the digest-checked
        model files - the files the signed ``model_digest`` covers - never from its tags."""
        version = self.get_version(name, ref)
        with tempfile.TemporaryDirectory() as tmp:
            local = self._download_checked(version, tmp, expected_digest)
            path = local / ENSEMBLE_MANIFEST
            if not path.is_file():
                raise RegistryError(f"{version.model_uri}: no {ENSEMBLE_MANIFEST}; not an "
                                    "ensemble version")
            return parse_manifest(path.read_text(), f"{version.model_uri} {ENSEMBLE_MANIFEST}")

    def load_model(self, strategy: str, ref: str | int, *,
                   expected_digest: str | None = None) -> PyFuncModel:
        """The version's pyfunc - **research only** (the reproducibility check): loading runs
        the artifact's code. The live path uses :meth:`load_config`. Checked first: the
        artifacts' digest (against the recorded tag, and ``expected_digest`` when given) and
        that it is models-from-code; loaded with pickle deserialisation disallowed."""
        version = self.get_version(strategy, ref)
        with tempfile.TemporaryDirectory() as tmp:
            local = self._download_checked(version, tmp, expected_digest)
            _check_code_model(local, version.model_uri)
            with _pickle_disallowed():
                model: PyFuncModel = mlflow.pyfunc.load_model(str(local))  # lazy module: Any
                return model
