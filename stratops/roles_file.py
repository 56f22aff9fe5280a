"""Append a user to the roles file (``stratops keys create --add-to-roles``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from live.governance.identity import ROLES, IdentityConfigError, load_directory
from pipelines.datasets.schema import atomic_write


def add_user(path: Path, user: str, roles: list[str], public_key_b64: str) -> None:
    """Add ``user`` with ``roles`` and key; refuse an existing user or an unknown role, and
    leave the file unchanged unless the result validates."""
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise IdentityConfigError(f"roles {roles!r}: give at least one of {list(ROLES)}")
    raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    data: dict[str, Any] = raw if isinstance(raw, dict) else {"version": 1, "users": {}}
    users = data.setdefault("users", {}) or {}
    if user in users:
        raise IdentityConfigError(f"{path}: user {user!r} already exists")
    users[user] = {"roles": list(roles), "public_key": public_key_b64}
    data["users"] = users
    text = yaml.safe_dump(data, sort_keys=False)
    tmp = path.with_name(f".{path.name}.check")
    tmp.write_text(text)
    try:
        load_directory(tmp)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write(path, lambda name: Path(name).write_text(text))
