"""The deployment files, checked where neither helm nor ``docker compose`` runs: the Helm
values' keys against Dagster's chart schema, the compose file's services, commands and
settings variables against ours."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from stratops.settings import LiveSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "pipelines" / "deploy" / "values.yaml"
COMPOSE = ROOT / "live" / "deploy" / "compose.yaml"
ANY = object()  # a free-form mapping (env) or a scalar of the chart's

# The keys this values file sets, as the chart's schema declares them: dagster-io/dagster
# helm/dagster/schema/schema/charts/dagster/values.py and subschema/{postgresql,daemon,
# run_launcher,global_}.py, dagster_user_deployments/subschema/user_deployments.py. A key
# outside this table is a typo the chart would refuse (its models forbid extra keys).
IMAGE = {"repository": str, "tag": str, "pullPolicy": {"Always", "IfNotPresent", "Never"}}
CHART: dict[str, Any] = {
    "global": {"postgresqlSecretName": str, "dagsterHome": str, "serviceAccountName": str,
               "celeryConfigSecretName": str},
    "dagster-user-deployments": {
        "enabled": bool, "enableSubchart": bool, "imagePullSecrets": list,
        "deployments": [{
            "name": str, "image": IMAGE, "dagsterApiGrpcArgs": [str], "codeServerArgs": [str],
            "port": int, "env": ANY, "envConfigMaps": [{"name": str}],
            "envSecrets": [{"name": str}], "labels": ANY, "resources": ANY}]},
    "postgresql": {"enabled": bool, "image": IMAGE, "postgresqlHost": str,
                   "postgresqlUsername": str, "postgresqlPassword": str,
                   "postgresqlDatabase": str, "postgresqlParams": ANY,
                   "postgresqlScheme": str, "service": {"port": int}},
    "generatePostgresqlPasswordSecret": bool,
    "runLauncher": {"type": {"CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"},
                    "config": {"k8sRunLauncher": {
                        "envSecrets": [{"name": str}], "envConfigMaps": [{"name": str}],
                        "envVars": [str], "jobNamespace": str, "resources": ANY}}},
    "dagsterDaemon": {"enabled": bool, "runCoordinator": {
        "enabled": bool, "type": {"QueuedRunCoordinator", "CustomRunCoordinator"},
        "config": {"queuedRunCoordinator": {"maxConcurrentRuns": int,
                                            "dequeueIntervalSeconds": int}}}},
    "telemetry": {"enabled": bool},
}


def _problems(value: Any, schema: Any, where: str) -> list[str]:
    if schema is ANY:
        return []
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where}: a mapping, not {value!r}"]
        return [p for key, sub in value.items()
                for p in (_problems(sub, schema[key], f"{where}.{key}") if key in schema
                          else [f"{where}.{key}: not a key of the chart"])]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: a list, not {value!r}"]
        return [p for i, item in enumerate(value) for p in _problems(item, schema[0],
                                                                      f"{where}[{i}]")]
    if isinstance(schema, set):
        return [] if value in schema else [f"{where}: {value!r} is not one of {sorted(schema)}"]
    ok = isinstance(value, schema) and not (schema is int and isinstance(value, bool))
    return [] if ok else [f"{where}: {value!r} is not {schema.__name__}"]


def test_helm_values_set_only_keys_of_the_dagster_chart() -> None:
    assert _problems(yaml.safe_load(VALUES.read_text()), CHART, "values") == []


def test_helm_schema_check_finds_a_misspelt_key() -> None:
    bad = {"postgresql": {"postgresqlHostname": "x"}, "runLauncher": {"type": "K8s"}}
    assert len(_problems(bad, CHART, "values")) == 2


def test_helm_values_run_our_code_location_on_external_postgres() -> None:
    values = yaml.safe_load(VALUES.read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "stratops.definitions"]
    assert values["postgresql"]["enabled"] is False
    assert "postgresqlPassword" not in values["postgresql"]  # from the secret, not the file


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_runs_nats_with_jetstream_postgres_and_the_services() -> None:
    services = _compose()["services"]
    assert "-js" in services["nats"]["command"]
    assert services["postgres"]["image"].startswith("postgres:")
    commands = {name: s["command"][:2] for name, s in services.items()
                if name not in ("nats", "postgres")}
    assert commands == {name: ["svc", name] for name in ("market-data", "execution", "state")}
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name


def _setting_exists(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    inner = field.annotation
    if len(path) == 1:
        return True
    return isinstance(inner, type) and issubclass(inner, BaseModel) and \
        _setting_exists(inner, path[1:])


def test_compose_settings_variables_name_real_settings() -> None:
    env = _compose()["x-stratops"]["environment"]
    # live.bus arrives with the services' branch (h-nats): checked once LiveSettings has it
    pending = set() if "bus" in LiveSettings.model_fields else {"LIVE__BUS__TRANSPORT",
                                                                "LIVE__BUS__URL"}
    for name in env:
        key = name.removeprefix("STRATOPS_")
        assert key in pending or _setting_exists(Settings, key.lower().split("__")), name
    journal = re.sub(r"\$\{[^}]*\}", "pw", env["STRATOPS_LIVE__JOURNAL_URL"])
    LiveSettings(journal_url=journal)  # a PostgreSQL journal URL must hold {mode}
