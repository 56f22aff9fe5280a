"""Session keys under a user's signed grant (the operator page's signer): what verifies as
the user and what is refused - another action, after the grant, a swapped key, a nested
grant, a name the grant does not carry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from live.governance.delegation import (
    DelegationError,
    challenge_text,
    grant_payload,
    session_keypair,
)
from live.governance.identity import Actor, load_private_key
from live.governance.signing import (
    ExpiredSignatureError,
    ForgedSignatureError,
    KeyMismatchError,
    Signature,
    sign,
)
from tests.chain_tamper import Identities, identities

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
KILL = {"action": "kill_switch", "scope": "ema_cross", "mode": "halt", "reason": "drill"}


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Identities:
    return identities(tmp_path_factory.mktemp("delegation"),
                      {"bob": ["desk_head"], "carol": ["risk_officer"]})


def _session(people: Identities, user: str = "bob", *, ttl_seconds: int = 900,
             grant_key: object = None) -> tuple[object, dict]:
    """A session private key and the user's grant of it (or of ``grant_key``)."""
    private, public = session_keypair()
    granted = public if grant_key is None else grant_key
    payload = grant_payload(challenge_text("ab" * 16, granted))  # type: ignore[arg-type]
    actor = Actor(people.directory.user(user), load_private_key(user, people.keys_dir))
    signature = actor.sign(payload, now=NOW, ttl_seconds=ttl_seconds)
    return private, {"payload": payload, "signature": signature.to_dict()}


def _signed(private: object, grant: dict, payload: dict, *, user: str = "bob",
            at: datetime = NOW) -> Signature:
    signature = sign(payload, private, user, now=at, ttl_seconds=60)  # type: ignore[arg-type]
    return replace(signature, delegation=grant)


def test_session_signature_over_a_kill_verifies_as_the_granting_user(
        people: Identities) -> None:
    private, grant = _session(people)
    user = people.directory.verify(KILL, _signed(private, grant, KILL), now=NOW)
    assert user.name == "bob"


def test_session_signature_over_an_action_outside_the_grant_is_refused(
        people: Identities) -> None:
    private, grant = _session(people)
    approval = {"action": "promotion_approve", "request_id": "R1"}
    with pytest.raises(DelegationError, match="promotion_approve"):
        people.directory.verify(approval, _signed(private, grant, approval), now=NOW)


def test_session_signature_made_after_the_grant_expired_is_refused(
        people: Identities) -> None:
    private, grant = _session(people, ttl_seconds=60)
    late = NOW + timedelta(minutes=5)
    with pytest.raises(ExpiredSignatureError):
        people.directory.verify(KILL, _signed(private, grant, KILL, at=late), now=late)


def test_session_signature_by_a_key_the_grant_does_not_name_is_refused(
        people: Identities) -> None:
    _, grant = _session(people)
    stolen, _ = session_keypair()
    with pytest.raises(KeyMismatchError, match="session grant is for key"):
        people.directory.verify(KILL, _signed(stolen, grant, KILL), now=NOW)


def test_session_grant_with_its_key_swapped_after_signing_is_refused(
        people: Identities) -> None:
    attacker, attacker_public = session_keypair()
    _, grant = _session(people)
    _, other = _session(people, grant_key=attacker_public)
    forged = {"payload": other["payload"], "signature": grant["signature"]}
    with pytest.raises(ForgedSignatureError):
        people.directory.verify(KILL, _signed(attacker, forged, KILL), now=NOW)


def test_session_signature_claiming_another_users_name_is_refused(
        people: Identities) -> None:
    private, grant = _session(people, "bob")
    with pytest.raises(DelegationError, match="grant is 'bob'"):
        people.directory.verify(KILL, _signed(private, grant, KILL, user="carol"), now=NOW)


def test_session_grant_signed_by_another_session_key_is_refused(people: Identities) -> None:
    private, grant = _session(people)
    inner, inner_public = session_keypair()
    payload = grant_payload(challenge_text("cd" * 16, inner_public))
    nested = {"payload": payload,
              "signature": _signed(private, grant, payload).to_dict()}
    with pytest.raises(DelegationError, match="user's own key"):
        people.directory.verify(KILL, _signed(inner, nested, KILL), now=NOW)


def test_signature_record_round_trips_its_grant(people: Identities) -> None:
    private, grant = _session(people)
    signature = _signed(private, grant, KILL)
    assert Signature.from_dict(signature.to_dict()) == signature


def test_signature_record_without_a_grant_has_no_delegation_field(
        people: Identities) -> None:
    signature = sign(KILL, load_private_key("bob", people.keys_dir), "bob", now=NOW,
                     ttl_seconds=60)
    assert "delegation" not in signature.to_dict()


def test_grant_widened_to_an_approval_still_cannot_sign_one(people: Identities) -> None:
    """A grant whose own action list names ``promotion_approve`` (a tampered login client):
    a session key signs only the page's actions, whatever the grant lists - a stolen
    session key never checks a promotion."""
    private, public = session_keypair()
    payload = {**grant_payload(challenge_text("cd" * 16, public)),
               "actions": ["kill_switch", "promotion_approve"]}
    actor = Actor(people.directory.user("bob"), load_private_key("bob", people.keys_dir))
    grant = {"payload": payload,
             "signature": actor.sign(payload, now=NOW, ttl_seconds=900).to_dict()}
    approval = {"action": "promotion_approve", "request_id": "R1"}
    with pytest.raises(DelegationError, match="a session key signs only"):
        people.directory.verify(approval, _signed(private, grant, approval), now=NOW)
