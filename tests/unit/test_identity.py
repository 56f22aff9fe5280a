"""Identities: the roles file, role checks, signature checks by directory, local key files."""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live.governance.identity import (
    ROLES,
    Actor,
    AuthorizationError,
    Directory,
    IdentityConfigError,
    InvalidUserNameError,
    KeyFileError,
    UnknownRoleError,
    UnknownUserError,
    create_keys,
    default_keys_dir,
    load_actor,
    load_directory,
    load_private_key,
)
from live.governance.signing import KeyMismatchError, public_key_b64, sign

NOW = datetime(2025, 1, 6, 3, 45, tzinfo=UTC)
PAYLOAD = {"strategy": "ema_cross", "version": 7, "alias": "canary"}


def _new_key_b64() -> str:
    return public_key_b64(Ed25519PrivateKey.generate().public_key())


def _write_roles(folder: Path, users: dict[str, dict[str, object]], **top: object) -> Path:
    path = folder / "roles.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "users": users, **top}))
    return path


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def directory(tmp_path: Path, keys_dir: Path) -> Directory:
    _, alice = create_keys("alice", keys_dir)
    _, bob = create_keys("bob", keys_dir)
    path = _write_roles(tmp_path, {
        "alice": {"roles": ["quant"], "public_key": alice},
        "bob": {"roles": ["desk_head", "risk_officer"], "public_key": bob},
    })
    return load_directory(path)


def test_create_keys_new_user_writes_owner_only_file(keys_dir: Path) -> None:
    path, _ = create_keys("alice", keys_dir)
    assert path == keys_dir / "alice.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700


def test_create_keys_returned_public_key_matches_private_key(keys_dir: Path) -> None:
    _, public = create_keys("alice", keys_dir)
    assert public_key_b64(load_private_key("alice", keys_dir).public_key()) == public


def test_create_keys_existing_key_refuses_overwrite(keys_dir: Path) -> None:
    path, _ = create_keys("alice", keys_dir)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        create_keys("alice", keys_dir)
    assert path.read_bytes() == before


def test_create_keys_with_overwrite_replaces_key_owner_only(keys_dir: Path) -> None:
    _, first = create_keys("alice", keys_dir)
    path, second = create_keys("alice", keys_dir, overwrite=True)
    assert first != second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in keys_dir.iterdir()) == ["alice.key"]


@pytest.mark.parametrize("name", ["Alice", "../alice", "a/b", "", "alice\n", "9lives"])
def test_create_keys_invalid_user_name_is_refused(keys_dir: Path, name: str) -> None:
    with pytest.raises(InvalidUserNameError, match="invalid user name"):
        create_keys(name, keys_dir)


def test_load_private_key_group_readable_file_is_refused(keys_dir: Path) -> None:
    path, _ = create_keys("alice", keys_dir)
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="mode 0640"):
        load_private_key("alice", keys_dir)


def test_load_private_key_missing_file_says_how_to_create(keys_dir: Path) -> None:
    with pytest.raises(KeyFileError, match="stratops keys create carol") as caught:
        load_private_key("carol", keys_dir)
    assert str(keys_dir / "carol.key") in str(caught.value)


def test_load_private_key_with_passphrase_round_trips(keys_dir: Path) -> None:
    _, public = create_keys("alice", keys_dir, passphrase=b"correct horse")
    key = load_private_key("alice", keys_dir, passphrase=b"correct horse")
    assert public_key_b64(key.public_key()) == public


def test_load_private_key_wrong_passphrase_is_refused(keys_dir: Path) -> None:
    create_keys("alice", keys_dir, passphrase=b"correct horse")
    with pytest.raises(KeyFileError, match=r"alice\.key"):
        load_private_key("alice", keys_dir, passphrase=b"battery staple")


def test_default_keys_dir_env_set_uses_it(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("STRATOPS_KEYS_DIR", str(tmp_path / "vault"))
    assert default_keys_dir() == tmp_path / "vault"


def test_default_keys_dir_env_unset_is_user_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATOPS_KEYS_DIR", raising=False)
    assert default_keys_dir() == Path.home() / ".config" / "stratops" / "keys"


def test_load_directory_valid_file_parses_users_and_digest(tmp_path: Path) -> None:
    key = _new_key_b64()
    path = _write_roles(tmp_path, {"alice": {"roles": ["quant", "desk_head"], "public_key": key}})
    loaded = load_directory(path)
    assert loaded.user("alice").roles == frozenset({"quant", "desk_head"})
    assert loaded.user("alice").public_key_b64 == key
    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_directory_sample_roles_file_lists_four_users(repo_root: Path) -> None:
    loaded = load_directory(repo_root / "roles.yaml")
    assert {name: set(user.roles) for name, user in loaded.users.items()} == {
        "alice": {"quant"}, "bob": {"desk_head"}, "carol": {"risk_officer"},
        "runner": {"runner"}}


def test_load_directory_unknown_role_names_user_and_role(tmp_path: Path) -> None:
    path = _write_roles(tmp_path, {"alice": {"roles": ["trader"], "public_key": _new_key_b64()}})
    with pytest.raises(IdentityConfigError, match=r"users\.alice\.roles.*'trader'") as caught:
        load_directory(path)
    assert str(path) in str(caught.value)


def test_load_directory_duplicate_public_key_names_both_users(tmp_path: Path) -> None:
    key = _new_key_b64()
    path = _write_roles(tmp_path, {"alice": {"roles": ["quant"], "public_key": key},
                                   "bob": {"roles": ["desk_head"], "public_key": key}})
    with pytest.raises(IdentityConfigError, match=r"users\.bob\.public_key.*users\.alice"):
        load_directory(path)


@pytest.mark.parametrize("users, top, field", [
    ({"alice": {"roles": ["quant"], "public_key": "K", "email": "a@x"}}, {}, "users.alice.email"),
    ({"alice": {"roles": ["quant"], "public_key": "K"}}, {"admins": ["alice"]}, "admins"),
])
def test_load_directory_unknown_field_names_field(tmp_path: Path, users: dict[str, dict],
                                                  top: dict[str, object], field: str) -> None:
    users["alice"]["public_key"] = _new_key_b64()
    path = _write_roles(tmp_path, users, **top)
    with pytest.raises(IdentityConfigError, match=rf"{field}: Extra inputs are not permitted"):
        load_directory(path)


def test_load_directory_empty_users_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IdentityConfigError, match="users is empty"):
        load_directory(_write_roles(tmp_path, {}))


def test_load_directory_user_listed_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text(f"version: 1\nusers:\n"
                    f"  alice: {{roles: [quant], public_key: '{_new_key_b64()}'}}\n"
                    f"  alice: {{roles: [desk_head], public_key: '{_new_key_b64()}'}}\n")
    with pytest.raises(IdentityConfigError, match="duplicate key 'alice'"):
        load_directory(path)


def test_load_directory_bad_public_key_names_user(tmp_path: Path) -> None:
    path = _write_roles(tmp_path, {"alice": {"roles": ["quant"], "public_key": "c2hvcnQ="}})
    with pytest.raises(IdentityConfigError, match=r"users\.alice\.public_key.*c2hvcnQ="):
        load_directory(path)


def test_load_directory_invalid_user_name_names_user(tmp_path: Path) -> None:
    path = _write_roles(tmp_path, {"Alice Smith": {"roles": ["quant"],
                                                   "public_key": _new_key_b64()}})
    with pytest.raises(IdentityConfigError, match=r"users\.Alice Smith: invalid user name"):
        load_directory(path)


def test_load_directory_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(IdentityConfigError, match=r"nowhere\.yaml: cannot read"):
        load_directory(tmp_path / "nowhere.yaml")


def test_directory_user_unknown_name_raises_unknown_user(directory: Directory) -> None:
    with pytest.raises(UnknownUserError, match="'mallory'"):
        directory.user("mallory")


def test_directory_require_held_role_returns_user(directory: Directory) -> None:
    assert directory.require("bob", "risk_officer").name == "bob"


def test_directory_require_missing_role_names_user_roles_and_role(directory: Directory) -> None:
    with pytest.raises(AuthorizationError,
                       match=r"'alice' has roles \['quant'\].*needs role 'desk_head'"):
        directory.require("alice", "desk_head")


def test_directory_require_unknown_role_is_refused(directory: Directory) -> None:
    with pytest.raises(UnknownRoleError, match="'admin'"):
        directory.require("alice", "admin")


def test_directory_verify_listed_signer_returns_user(directory: Directory,
                                                     keys_dir: Path) -> None:
    signature = sign(PAYLOAD, load_private_key("alice", keys_dir), "alice", now=NOW,
                     ttl_seconds=600)
    assert directory.verify(PAYLOAD, signature, now=NOW).name == "alice"


def test_directory_verify_unknown_signer_raises_unknown_user(directory: Directory) -> None:
    signature = sign(PAYLOAD, Ed25519PrivateKey.generate(), "mallory", now=NOW, ttl_seconds=60)
    with pytest.raises(UnknownUserError, match="'mallory'"):
        directory.verify(PAYLOAD, signature, now=NOW)


def test_directory_verify_key_not_listed_for_signer_raises_key_mismatch(
        directory: Directory) -> None:
    signature = sign(PAYLOAD, Ed25519PrivateKey.generate(), "alice", now=NOW, ttl_seconds=60)
    with pytest.raises(KeyMismatchError, match="'alice'"):
        directory.verify(PAYLOAD, signature, now=NOW)


def test_actor_sign_verifies_against_directory(directory: Directory, keys_dir: Path) -> None:
    actor = load_actor(directory, "bob", keys_dir)
    signature = actor.sign(PAYLOAD, now=NOW, ttl_seconds=600)
    assert directory.verify(PAYLOAD, signature, now=NOW) == directory.user("bob")


def test_actor_private_key_of_someone_else_is_refused(directory: Directory,
                                                      keys_dir: Path) -> None:
    with pytest.raises(KeyMismatchError, match="'alice'"):
        Actor(directory.user("alice"), load_private_key("bob", keys_dir))


def test_roles_constant_lists_the_four_roles() -> None:
    assert ROLES == ("quant", "desk_head", "risk_officer", "runner")


def test_roles_file_runner_with_a_human_role_is_refused(tmp_path: Path) -> None:
    from live.governance.identity import IdentityConfigError, create_keys, load_directory

    _, public = create_keys("svc", tmp_path / "keys")
    path = tmp_path / "roles.yaml"
    path.write_text(f"version: 1\nusers:\n  svc: {{roles: [runner, desk_head], "
                    f"public_key: {public}}}\n")
    with pytest.raises(IdentityConfigError, match="service identity"):
        load_directory(path)


def test_directory_revoked_key_signature_is_refused(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from live.governance.identity import (
        KeyRevokedError,
        create_keys,
        load_actor,
        load_directory,
    )

    _, public = create_keys("ann", tmp_path / "keys")
    roles = tmp_path / "roles.yaml"
    roles.write_text(f"version: 1\nusers:\n  ann: {{roles: [quant], public_key: {public}}}\n")
    now = datetime(2026, 1, 5, tzinfo=UTC)
    signature = load_actor(load_directory(roles), "ann", tmp_path / "keys").sign(
        {"a": 1}, now=now, ttl_seconds=60)
    _, other = create_keys("ann2", tmp_path / "keys")
    roles.write_text(f"version: 1\nusers:\n  ann: {{roles: [quant], public_key: {other}}}\n"
                     f"revoked_keys:\n  '{signature.key_id}': laptop lost\n")
    with pytest.raises(KeyRevokedError, match="revoked"):
        load_directory(roles).verify({"a": 1}, signature, now=now)
