"""The operator page's sign-in and governed actions over real HTTP (a uvicorn server on a
loopback port, a real governance store, keys and trust lock): a challenge is single-use and
short-lived, the grant must verify against the trusted roles, an action needs the session
cookie and its CSRF header, every refusal is audited, and a page action is the CLI's own
signed kill command, which the runner's reader verifies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from live.checkpoints import read_checkpoints
from live.db import make_engine
from live.governance.audit import AuditLog
from live.governance.delegation import grant_payload
from live.governance.identity import load_private_key
from live.governance.kill import approve_rearm, verified_commands
from live.governance.promotion import GovernanceRefusal
from live.governance.signing import sign
from stratops.checkpoint_ops import AUDIT_CHAIN, audit_checkpoint_file, check_against
from stratops.governance_ops import directory, service, signer_for
from stratops.ops_auth import COOKIE, CSRF_HEADER, encode_token
from stratops.settings import SettingsError, load_settings
from tests.ops_stack import (
    OpsStack,
    free_port,
    governed_project,
    running,
    stranger_keys,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStack]:
    root = tmp_path_factory.mktemp("ops")
    with running(root, governed_project(root)) as up:
        yield up


def _login(stack: OpsStack, token: str) -> requests.Response:
    return requests.post(f"{stack.url}/api/login", json={"token": token}, timeout=10)


def _refusals(stack: OpsStack, action: str) -> list[dict]:
    return [r.detail | {"actor": r.actor} for r in stack.audit()
            if r.kind == "refused" and r.detail.get("action") == action]


def test_ops_login_with_a_trusted_desk_head_sets_an_httponly_strict_cookie(
        stack: OpsStack) -> None:
    reply = _login(stack, stack.token(stack.challenge(), "bob"))
    cookie = reply.headers["set-cookie"].lower()
    assert (reply.status_code, reply.json()["user"], "httponly" in cookie,
            "samesite=strict" in cookie) == (200, "bob", True, True)


def test_ops_login_replaying_a_used_challenge_is_refused(stack: OpsStack) -> None:
    token = stack.token(stack.challenge(), "bob")
    first, second = _login(stack, token), _login(stack, token)
    assert (first.status_code, second.status_code, "already used" in second.json()["error"]) \
        == (200, 403, True)


def test_ops_login_after_the_challenge_expired_is_refused(stack: OpsStack) -> None:
    challenge = stack.challenge()
    stack.clock.offset = timedelta(seconds=stack.settings.ops.challenge_ttl_seconds + 5)
    try:
        token = stack.token(challenge, "bob")
        reply = _login(stack, token)
    finally:
        stack.clock.offset = timedelta()
    assert (reply.status_code, "expired" in reply.json()["error"]) == (403, True)


def test_ops_login_signed_with_a_key_the_roles_do_not_list_is_refused_and_audited(
        stack: OpsStack) -> None:
    wrong = stranger_keys(stack.root / "wrong", "bob")
    payload = grant_payload(stack.challenge())
    forged = sign(payload, load_private_key("bob", wrong), "bob", now=stack.clock(),
                  ttl_seconds=600)
    reply = _login(stack, encode_token(payload, forged))
    last = _refusals(stack, "ops_login")[-1]
    assert (reply.status_code, last["actor"], "does not verify" in last["reason"]) == \
        (403, "unverified:bob", True)


def test_ops_login_by_a_user_the_roles_do_not_know_is_refused(stack: OpsStack) -> None:
    keys = stranger_keys(stack.root / "mallory", "mallory")
    payload = grant_payload(stack.challenge())
    signature = sign(payload, load_private_key("mallory", keys), "mallory", now=stack.clock(),
                     ttl_seconds=600)
    reply = _login(stack, encode_token(payload, signature))
    assert (reply.status_code, "unknown user 'mallory'" in reply.json()["error"]) == (403, True)


def test_ops_login_by_the_runner_service_identity_is_refused(stack: OpsStack) -> None:
    reply = _login(stack, stack.token(stack.challenge(), "svc"))
    assert (reply.status_code, "has roles ['runner']" in reply.json()["error"]) == (403, True)


def test_ops_login_grant_for_another_session_key_is_refused(stack: OpsStack) -> None:
    first, second = stack.challenge(), stack.challenge()
    nonce = first.partition(".")[0]
    spliced = f"{nonce}.{second.partition('.')[2]}"  # this challenge, another session's key
    reply = _login(stack, stack.token(spliced, "bob"))
    assert (reply.status_code, "another session key" in reply.json()["error"]) == (403, True)


def test_ops_pause_without_a_session_is_refused_and_audited(stack: OpsStack) -> None:
    reply = requests.post(f"{stack.url}/api/pause", timeout=10,
                          json={"strategy": "ema_cross", "reason": "drill"})
    last = _refusals(stack, "kill_switch")[-1]
    assert (reply.status_code, last["actor"], last["via"]) == (401, "unauthenticated", "ops page")


def test_ops_pause_with_the_cookie_but_no_csrf_header_is_refused_and_audited(
        stack: OpsStack) -> None:
    client = stack.signed_in("bob")
    del client.headers[CSRF_HEADER]
    reply = client.post(f"{stack.url}/api/pause", timeout=10,
                        json={"strategy": "ema_cross", "reason": "drill"})
    last = _refusals(stack, "kill_switch")[-1]
    assert (reply.status_code, last["actor"], "CSRF" in last["reason"]) == (401, "bob", True)


def test_ops_pause_by_a_quant_is_refused_by_the_kill_switch_roles(stack: OpsStack) -> None:
    reply = stack.signed_in("alice").post(f"{stack.url}/api/pause", timeout=60,
                                          json={"strategy": "ema_cross", "reason": "drill"})
    last = _refusals(stack, "kill_switch")[-1]
    assert (reply.status_code, last["actor"], "needs one of" in last["reason"]) == \
        (403, "alice", True)


def test_ops_pause_by_a_desk_head_is_a_kill_command_the_runner_verifies(
        stack: OpsStack) -> None:
    reply = stack.signed_in("bob").post(f"{stack.url}/api/pause", timeout=60,
                                        json={"strategy": "range_breakout", "reason": "drill"})
    engine = make_engine(stack.settings.governance.db_url, stack.root)
    command = verified_commands(engine, directory(stack.settings), 0)[-1]
    assert (reply.status_code, command.scope, command.mode, command.actor, command.verified) \
        == (200, "range_breakout", "halt", "bob", True)


def test_ops_session_cookie_is_useless_after_logout(stack: OpsStack) -> None:
    client = stack.signed_in("bob")
    client.post(f"{stack.url}/api/logout", timeout=10)
    client.cookies.set(COOKIE, "x")
    reply = client.post(f"{stack.url}/api/pause", timeout=10,
                        json={"strategy": "ema_cross", "reason": "drill"})
    assert reply.status_code == 401


def test_ops_rearm_request_from_the_page_cannot_be_approved_by_its_maker(
        stack: OpsStack) -> None:
    reply = stack.signed_in("carol").post(f"{stack.url}/api/rearm", timeout=60,
                                          json={"scope": "range_breakout", "reason": "ok"})
    ref = reply.json()["ref"]
    with pytest.raises(GovernanceRefusal, match="maker and checker"):
        approve_rearm(service(stack.settings), ref, signer_for(stack.settings, "carol"))


def test_ops_rearm_request_from_the_page_approved_by_another_risk_officer_verifies(
        stack: OpsStack) -> None:
    reply = stack.signed_in("bob").post(f"{stack.url}/api/rearm", timeout=60,
                                        json={"scope": "range_breakout", "reason": "ok"})
    approve_rearm(service(stack.settings), reply.json()["ref"],
                  signer_for(stack.settings, "dan"))
    engine = make_engine(stack.settings.governance.db_url, stack.root)
    command = verified_commands(engine, directory(stack.settings), 0)[-1]
    assert (command.mode, command.actor, command.verified) == ("off", "dan", True)


def test_ops_state_is_readable_without_signing_in(stack: OpsStack) -> None:
    reply = requests.get(f"{stack.url}/api/state", timeout=10)
    assert (reply.status_code, reply.json()["mode"]) == (200, "live")


def test_ops_pause_seals_the_audit_log_with_a_checkpoint_that_verifies(
        tmp_path: Path) -> None:
    with running(tmp_path, governed_project(tmp_path)) as stack:  # no earlier refusals
        _pause_and_check_the_seal(stack)


def _pause_and_check_the_seal(stack: OpsStack) -> None:
    reply = stack.signed_in("carol").post(f"{stack.url}/api/pause", timeout=60,
                                          json={"strategy": "atr_reversal", "reason": "drill"})
    settings = stack.settings
    engine = make_engine(settings.governance.db_url, stack.root)
    result = check_against(AuditLog(engine), None, audit_checkpoint_file(settings),
                           directory(settings), chain=AUDIT_CHAIN, role=None)
    last = read_checkpoints(audit_checkpoint_file(settings))[-1]
    assert (reply.json()["checkpoint_problems"], result.verdict is not None and
            result.verdict.ok, last.sealed, last.signature.signer) == ([], True, True, "carol")


def test_ops_pause_after_the_session_expired_is_refused_and_audited(stack: OpsStack) -> None:
    client = stack.signed_in("bob")
    stack.clock.offset = timedelta(seconds=stack.settings.ops.session_ttl_seconds + 5)
    try:
        reply = client.post(f"{stack.url}/api/pause", timeout=10,
                            json={"strategy": "ema_cross", "reason": "drill"})
    finally:
        stack.clock.offset = timedelta()
    last = _refusals(stack, "kill_switch")[-1]
    assert (reply.status_code, last["actor"], "expired" in last["reason"]) == (401, "bob", True)


def test_ops_settings_port_out_of_range_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "stratops.yaml").write_text("ops: {port: 70000}\n")
    with pytest.raises(SettingsError, match=r"ops\.port"):
        load_settings(tmp_path)


def test_stratops_ops_serve_listens_on_loopback_and_serves_the_page(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"STRATOPS_ROOT": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "stratops.cli", "ops", "serve", "--port",
                             str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (page.status_code, "stratops operator page" in page.text) == (200, True)


def test_ops_kill_with_an_unknown_mode_is_refused_and_audited(stack: OpsStack) -> None:
    reply = stack.signed_in("bob").post(f"{stack.url}/api/kill", timeout=10, json={
        "scope": "all", "mode": "off", "reason": "re-arming is maker/checker"})
    last = _refusals(stack, "kill_switch")[-1]
    assert (reply.status_code, last["actor"], "bad request body" in last["reason"]) == \
        (422, "bob", True)


def test_ops_page_without_a_journal_says_so_and_creates_none(tmp_path: Path) -> None:
    with running(tmp_path, governed_project(tmp_path)) as fresh:
        state = requests.get(f"{fresh.url}/api/state", timeout=10).json()
    assert ("no live journal" in state["journal"],
            (tmp_path / ".stratops" / "journal-live.db").exists()) == (True, False)
