"""The signed daily compliance report: built from the journal (and the audit trail) alone,
reproducible byte for byte, verified (digest, the runner's signature, the journal anchor),
tampering named."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from live.broker import Side
from live.compliance.report import ReportVerifyError, body_bytes, verify_report
from live.events import KillMode, KillSwitchChanged
from stratops.cli import main
from stratops.compliance_ops import build_report_body, compliance_report
from stratops.governance_ops import directory
from tests.compliance_flows import Flow, at
from tests.unit.test_chain_verify_cli import Project, project, serviced

__all__ = ["project", "serviced"]  # fixtures used here
DAY = date(2026, 12, 1)
RECORDED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _day_flow() -> Flow:
    flow = Flow().bar(at(10, 0), 100.0)
    keys = [flow.order(at(10, 0, 5 + i), Side.BUY, 50, 99.5) for i in range(3)]
    flow.trade(at(10, 0, 30), Side.SELL, 50, 100.2)
    for i, key in enumerate(keys):
        flow.cancel(at(10, 0, 40 + i), key)
    flow.messages.append(KillSwitchChanged(trace_id="", ts_event=at(10, 5), scope="all",
                                           mode=KillMode.HALT, actor="carol",
                                           reason="K1: test"))
    flow.bar(at(10, 0, day=2), 100.0)  # the next day: outside the report
    return flow


@pytest.fixture()
def journaled(serviced: Project) -> Project:
    journal = serviced.journal()
    journal.append_many(_day_flow().messages, ts_record=RECORDED)
    journal.engine.dispose()
    serviced.audit().append(ts=at(11, 0), kind="config_approved", actor="carol",
                            subject="R1", detail={"kind": "risk", "version": 2})
    return serviced


def test_report_counts_orders_cancels_otr_and_kill_switch(journaled: Project) -> None:
    body = compliance_report(journaled.settings, DAY).document["body"]
    assert body["orders"] == {"intended": 4, "cancelled": 3, "rejected": 0, "fills": 1,
                              "filled_qty": 50}
    assert body["otr"] == [{"strategy": "ema", "symbol": "NIFTY", "orders": 4,
                            "modifications": 0, "cancellations": 3, "trades": 1, "otr": 7.0}]
    assert [k["mode"] for k in body["kill_switch"]] == ["halt"]


def test_report_carries_findings_governance_and_the_day_anchor(journaled: Project) -> None:
    body = compliance_report(journaled.settings, DAY).document["body"]
    assert [f["detector"] for f in body["findings"]] == ["layering"]
    assert body["findings_batch_only"] == [body["findings"][0]["id"]]
    assert [(g["kind"], g["subject"]) for g in body["governance"]] == [
        ("config_approved", "R1")]
    journal = journaled.journal()
    last_of_day = len(_day_flow().messages) - 1  # the next day's bar is the last entry
    assert body["journal_anchor"]["seq"] == last_of_day
    assert body["journal_anchor"]["hash"] == next(journal.hashes(last_of_day,
                                                                 last_of_day))[1]


def test_report_regenerated_from_the_journal_is_byte_identical(journaled: Project) -> None:
    first = compliance_report(journaled.settings, DAY, out=journaled.root / "a").document
    again = compliance_report(journaled.settings, DAY, out=journaled.root / "b").document
    assert body_bytes(first["body"]) == body_bytes(again["body"])
    assert first["body_sha256"] == again["body_sha256"]
    rebuilt = build_report_body(journaled.settings, journaled.journal(), DAY, "live")
    assert body_bytes(rebuilt) == body_bytes(first["body"])


def test_report_verify_cli_accepts_an_intact_report(journaled: Project,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    made = compliance_report(journaled.settings, DAY)
    assert main(["compliance", "verify", str(made.json_path), "--mode", "live"]) == 0
    assert "intact" in capsys.readouterr().out
    assert made.html_path.read_text().count("layering") >= 1


def test_report_edited_body_fails_verify_naming_the_file(journaled: Project) -> None:
    made = compliance_report(journaled.settings, DAY)
    document = json.loads(made.json_path.read_text())
    document["body"]["orders"]["cancelled"] = 0
    made.json_path.write_text(json.dumps(document))
    with pytest.raises(ReportVerifyError, match=rf"{made.json_path}: the body was altered"):
        verify_report(made.json_path, directory(journaled.settings))


def test_report_with_digest_recomputed_fails_on_the_signature(journaled: Project) -> None:
    from live.canonical import sha256_hex

    made = compliance_report(journaled.settings, DAY)
    document = json.loads(made.json_path.read_text())
    document["body"]["findings"] = []
    document["body_sha256"] = sha256_hex(body_bytes(document["body"]))
    made.json_path.write_text(json.dumps(document))
    with pytest.raises(ReportVerifyError, match="signature refused"):
        verify_report(made.json_path, directory(journaled.settings))


def test_report_verify_cli_tampered_exits_2(journaled: Project,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    made = compliance_report(journaled.settings, DAY)
    made.json_path.write_text(made.json_path.read_text().replace('"halt"', '"off"'))
    assert main(["compliance", "verify", str(made.json_path)]) == 2
    assert "compliance.json" in capsys.readouterr().err.replace("\n", "")


def test_report_anchor_not_in_the_journal_fails_verify(journaled: Project,
                                                       tmp_path: Path) -> None:
    made = compliance_report(journaled.settings, DAY)
    other = tmp_path / "other.db"
    from live.journal import open_journal

    journal = open_journal(f"sqlite:///{other}")
    journal.append_many(Flow().bar(at(9, 30), 99.0).messages * 1, ts_record=RECORDED)
    with pytest.raises(ReportVerifyError, match="journal anchor seq"):
        verify_report(made.json_path, directory(journaled.settings),
                      lambda seq: next((h for _, h in journal.hashes(seq, seq)), None))


def test_report_without_service_key_is_refused(project: Project) -> None:
    from live.service_key import ServiceKeyError

    with pytest.raises(ServiceKeyError):
        compliance_report(project.settings, DAY)



def test_cli_scan_lists_the_findings_and_exits_1(journaled: Project,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compliance", "scan", "--day", "2026-12-01", "--json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert [f["detector"] for f in found] == ["layering"]
    assert found[0]["evidence"]["fill"]["trade_id"]


def test_cli_scan_quiet_day_exits_0(journaled: Project,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compliance", "scan", "--day", "2026-12-02"]) == 0
    assert "0 finding(s)" in capsys.readouterr().out


def test_cli_report_writes_under_the_configured_folder(journaled: Project,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["compliance", "report", "--day", "2026-12-01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["json"] == str(journaled.root / "reports" / "compliance" / "live" /
                              "2026-12-01" / "compliance.json")
    assert out["findings"] == 1
