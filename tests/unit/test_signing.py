"""Ed25519 signatures: round trip, tampering, expiry, key mismatch, record validation."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.canonical import canonical_json
from live.governance.signing import (
    ExpiredSignatureError,
    ForgedSignatureError,
    InvalidPublicKeyError,
    KeyMismatchError,
    MalformedSignatureError,
    Signature,
    SignatureError,
    key_id,
    load_public_key_b64,
    public_key_b64,
    sign,
    signed_bytes,
    verify,
)

NOW = datetime(2025, 1, 6, 3, 45, tzinfo=UTC)  # 09:15 Asia/Kolkata
PAYLOAD = {"strategy": "ema_cross", "version": 7, "alias": "canary", "params": {"fast": 12}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@pytest.fixture(scope="module")
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def signature(private_key: Ed25519PrivateKey) -> Signature:
    return sign(PAYLOAD, private_key, "alice", now=NOW, ttl_seconds=3600)


def test_sign_then_verify_round_trip_passes(private_key: Ed25519PrivateKey,
                                            signature: Signature) -> None:
    verify(PAYLOAD, signature, private_key.public_key(), now=NOW + timedelta(minutes=5))


def test_sign_metadata_records_signer_key_and_times(private_key: Ed25519PrivateKey,
                                                    signature: Signature) -> None:
    assert (signature.signer, signature.algorithm) == ("alice", "ed25519")
    assert signature.key_id == key_id(private_key.public_key())
    assert signature.signed_at == "2025-01-06T03:45:00.000000Z"
    assert signature.expires_at == "2025-01-06T04:45:00.000000Z"


def test_sign_same_payload_twice_uses_fresh_nonces(private_key: Ed25519PrivateKey) -> None:
    first = sign(PAYLOAD, private_key, "alice", now=NOW, ttl_seconds=60)
    second = sign(PAYLOAD, private_key, "alice", now=NOW, ttl_seconds=60)
    assert first.nonce != second.nonce
    assert first.value != second.value


def test_sign_naive_now_is_refused(private_key: Ed25519PrivateKey) -> None:
    with pytest.raises(SignatureError, match="timezone-aware"):
        sign(PAYLOAD, private_key, "alice", now=datetime(2025, 1, 6, 9, 15), ttl_seconds=60)


@pytest.mark.parametrize("ttl", [0, -5, True])
def test_sign_non_positive_ttl_is_refused(private_key: Ed25519PrivateKey, ttl: int) -> None:
    with pytest.raises(SignatureError, match="ttl_seconds"):
        sign(PAYLOAD, private_key, "alice", now=NOW, ttl_seconds=ttl)


def test_sign_bad_nonce_is_refused_naming_nonce(private_key: Ed25519PrivateKey) -> None:
    with pytest.raises(MalformedSignatureError, match="'nonce'") as caught:
        sign(PAYLOAD, private_key, "alice", now=NOW, ttl_seconds=60, nonce="abc")
    assert caught.value.field == "nonce"


def test_verify_tampered_payload_raises_forged(private_key: Ed25519PrivateKey,
                                               signature: Signature) -> None:
    altered = {**PAYLOAD, "alias": "live"}
    with pytest.raises(ForgedSignatureError, match="alice"):
        verify(altered, signature, private_key.public_key(), now=NOW)


@pytest.mark.parametrize("field, value", [
    ("signed_at", "2025-01-06T03:44:59.000000Z"),
    ("expires_at", "2025-01-07T03:45:00.000000Z"),
    ("nonce", "0" * 32),
    ("signer", "mallory"),
])
def test_verify_tampered_metadata_raises_forged(private_key: Ed25519PrivateKey,
                                                signature: Signature, field: str,
                                                value: str) -> None:
    altered = replace(signature, **{field: value})
    with pytest.raises(ForgedSignatureError):
        verify(PAYLOAD, altered, private_key.public_key(), now=NOW)


def test_verify_after_expiry_raises_expired(private_key: Ed25519PrivateKey,
                                            signature: Signature) -> None:
    late = NOW + timedelta(seconds=3601)
    with pytest.raises(ExpiredSignatureError, match="expired at 2025-01-06T04:45"):
        verify(PAYLOAD, signature, private_key.public_key(), now=late)


def test_verify_at_expiry_instant_passes(private_key: Ed25519PrivateKey,
                                         signature: Signature) -> None:
    verify(PAYLOAD, signature, private_key.public_key(), now=NOW + timedelta(seconds=3600))


def test_verify_future_dated_beyond_skew_raises_expired(private_key: Ed25519PrivateKey,
                                                        signature: Signature) -> None:
    early = NOW - timedelta(seconds=61)
    with pytest.raises(ExpiredSignatureError, match="more than 60 s after now"):
        verify(PAYLOAD, signature, private_key.public_key(), now=early)


def test_verify_future_dated_within_skew_passes(private_key: Ed25519PrivateKey,
                                                signature: Signature) -> None:
    verify(PAYLOAD, signature, private_key.public_key(), now=NOW - timedelta(seconds=60))


def test_verify_other_public_key_raises_key_mismatch(signature: Signature) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(KeyMismatchError, match=signature.key_id):
        verify(PAYLOAD, signature, other, now=NOW)


def test_verify_other_key_with_its_key_id_copied_raises_forged(signature: Signature) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    relabelled = replace(signature, key_id=key_id(other))
    with pytest.raises(ForgedSignatureError):
        verify(PAYLOAD, relabelled, other, now=NOW)


def test_signature_dict_round_trip_is_equal(signature: Signature) -> None:
    record = json.loads(json.dumps(signature.to_dict()))
    assert Signature.from_dict(record) == signature


def test_signature_from_dict_missing_field_names_field(signature: Signature) -> None:
    record = signature.to_dict()
    del record["nonce"]
    with pytest.raises(MalformedSignatureError, match="'nonce': is missing"):
        Signature.from_dict(record)


def test_signature_from_dict_unknown_field_names_field(signature: Signature) -> None:
    record = {**signature.to_dict(), "comment": "trust me"}
    with pytest.raises(MalformedSignatureError, match="'comment'"):
        Signature.from_dict(record)


@pytest.mark.parametrize("field, value", [
    ("signer", ""),
    ("key_id", "XYZ"),
    ("algorithm", "rsa"),
    ("signed_at", "yesterday"),
    ("signed_at", "2025-01-06T09:15:00+05:30"),
    ("expires_at", "2025-01-06T03:00:00.000000Z"),
    ("nonce", "zz"),
    ("value", "not base64!"),
    ("value", "AAAA"),
    ("signer", 7),
])
def test_signature_from_dict_bad_value_names_field(signature: Signature, field: str,
                                                   value: object) -> None:
    record = {**signature.to_dict(), field: value}
    with pytest.raises(MalformedSignatureError) as caught:
        Signature.from_dict(record)
    assert caught.value.field == field
    assert repr(field) in str(caught.value)


def test_public_key_b64_round_trip_keeps_key_id(private_key: Ed25519PrivateKey) -> None:
    public = private_key.public_key()
    text = public_key_b64(public)
    assert key_id(load_public_key_b64(text)) == key_id(public)
    assert len(key_id(public)) == 16


@pytest.mark.parametrize("text", ["", "not-a-key", "AAAA", "QUJD" * 20])
def test_load_public_key_b64_bad_text_names_value(text: str) -> None:
    with pytest.raises(InvalidPublicKeyError, match="public key"):
        load_public_key_b64(text)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_sign_any_json_payload_verifies(private_key: Ed25519PrivateKey,
                                        payload: dict[str, object]) -> None:
    signed = sign(payload, private_key, "alice", now=NOW, ttl_seconds=60)
    stored = Signature.from_dict(json.loads(json.dumps(signed.to_dict())))
    verify(json.loads(canonical_json(payload)), stored, private_key.public_key(), now=NOW)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads, data=st.data())
def test_verify_single_byte_change_of_canonical_payload_fails(
        private_key: Ed25519PrivateKey, payload: dict[str, object], data: st.DataObject) -> None:
    signed = sign(payload, private_key, "alice", now=NOW, ttl_seconds=60)
    original = canonical_json(payload)
    index = data.draw(st.integers(0, len(original) - 1), label="index")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[index]), label="byte")
    mutated = original[:index] + bytes([byte]) + original[index + 1:]
    # the signed bytes embed the payload's canonical form verbatim; alter it there
    message = signed_bytes(payload, signed)
    forged = message.replace(b'"payload":' + original, b'"payload":' + mutated, 1)
    assert forged != message
    with pytest.raises(InvalidSignature):
        private_key.public_key().verify(base64.b64decode(signed.value), forged)
    try:
        altered = json.loads(mutated)
        presented = canonical_json(altered) if isinstance(altered, dict) else original
    except ValueError:  # not JSON, not UTF-8 or no canonical form (e.g. 1e+392 reads as inf):
        return  # it cannot even be presented as a payload
    if presented != original:
        with pytest.raises(ForgedSignatureError):
            verify(altered, signed, private_key.public_key(), now=NOW)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads, other=payloads)
def test_verify_any_payload_with_other_canonical_form_raises_forged(
        private_key: Ed25519PrivateKey, payload: dict[str, object],
        other: dict[str, object]) -> None:
    signed = sign(payload, private_key, "alice", now=NOW, ttl_seconds=60)
    if canonical_json(other) == canonical_json(payload):
        verify(other, signed, private_key.public_key(), now=NOW)
    else:
        with pytest.raises(ForgedSignatureError):
            verify(other, signed, private_key.public_key(), now=NOW)
