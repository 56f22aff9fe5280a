"""The Grafana dashboard and the Prometheus files: they parse, every metric they query is one
the runner's registry exposes, and the rules file has Prometheus's rule-group schema
(including the dead-man's switch on the missing heartbeat)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from live.observability.metrics import RunnerMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "live/deploy/grafana/stratops.json"
RULES = ROOT / "live/deploy/prometheus/stratops-rules.yml"
PROMETHEUS = ROOT / "live/deploy/prometheus/prometheus.yml"
BUILTIN = {"up"}  # Prometheus's own series
NAME = re.compile(r"\b(stratops_[a-z0-9_]+|up)\b")
RULE_KEYS = {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}


def exposed(registry: CollectorRegistry) -> set[str]:
    """Every series name ``registry`` can expose (a counter's ``_total``, a histogram's
    ``_bucket``/``_sum``/``_count``)."""
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def queried(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in NAME.findall(expr)}


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_dashboard_queries_only_metrics_the_runner_exposes() -> None:
    known = exposed(RunnerMetrics(wall=time.time, perf=time.perf_counter).registry)
    names = queried(dashboard_exprs())
    assert names - known - BUILTIN == set()
    assert len(names) >= 15  # every family is on the board


def test_dashboard_shows_every_metric_family() -> None:
    known = exposed(RunnerMetrics(wall=time.time, perf=time.perf_counter).registry)
    shown = queried(dashboard_exprs())
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in known}
    assert {f for f in families if not any(s.startswith(f) for s in shown)} == set()


def test_alert_rules_have_the_rule_group_schema_and_known_metrics() -> None:
    known = exposed(RunnerMetrics(wall=time.time, perf=time.perf_counter).registry)
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["name"]
        for rule in group["rules"]:
            assert set(rule) <= RULE_KEYS and {"alert", "expr"} <= set(rule), rule
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["expr"]
    assert queried([r["expr"] for r in rules()]) - known - BUILTIN == set()


def test_alert_rules_page_on_a_missing_or_stale_heartbeat() -> None:
    by_name = {r["alert"]: r for r in rules()}
    missing = by_name["StratopsHeartbeatMissing"]
    assert "absent" in missing["expr"] and "stratops_heartbeat_timestamp_seconds" in \
        missing["expr"] and missing["labels"]["severity"] == "critical"
    stale = by_name["StratopsHeartbeatStale"]
    assert re.search(r"time\(\) - stratops_heartbeat_timestamp_seconds > \d+", stale["expr"])


def test_prometheus_config_scrapes_the_default_endpoint_with_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == [RULES.name]
    job = config["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    from stratops.observability_settings import DEFAULT_METRICS_PORT, MetricsSettings

    assert MetricsSettings().port == DEFAULT_METRICS_PORT == 9464


def test_watchdog_unit_runs_the_watchdog_in_its_own_always_restarted_unit() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "live/deploy/stratops-watchdog.service").read_text())
    service = unit["Service"]
    assert service["ExecStart"].endswith("stratops watchdog")
    assert service["Restart"] == "always" and service["User"] != "stratops"
    assert "SECRET" not in service.get("EnvironmentFile", "").upper()
