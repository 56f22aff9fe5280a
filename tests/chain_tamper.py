"""What an attacker with write access to a store does to a hash chain, on SQLite or
PostgreSQL: truncate the tail, append a forged entry with a correct hash, or edit an entry
and re-chain every hash after it. Also signing identities for checkpoint tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from live.canonical import canonical_json
from live.checkpoints import Signer
from live.governance.identity import Actor, Directory, create_keys, load_directory, load_private_key
from live.governance.trust import bootstrap, lock_path_for
from live.hashchain import GENESIS, entry_hash
from live.journal import raw_entry_hash

SIGNED_AT = datetime(2026, 1, 2, 15, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Identities:
    """Real key files and a real roles file for ``users`` (name -> roles)."""

    keys_dir: Path
    directory: Directory

    def signer(self, name: str) -> Signer:
        actor = Actor(self.directory.user(name), load_private_key(name, self.keys_dir))
        return lambda payload: actor.sign(payload, now=SIGNED_AT, ttl_seconds=900)


def identities(folder: Path, users: dict[str, list[str]]) -> Identities:
    keys_dir = folder / "keys"
    entries = {}
    for name, roles in users.items():
        entries[name] = {"roles": roles, "public_key": create_keys(name, keys_dir)[1]}
    roles_file = folder / "roles.yaml"
    roles_file.write_text(yaml.safe_dump({"version": 1, "users": entries}))
    return Identities(keys_dir, load_directory(roles_file))


def ceremony(folder: Path, keys_dir: Path, maker: str = "alice",
             checker: str = "carol") -> None:
    """The trust lock's bootstrap ceremony over ``folder/roles.yaml`` as it is now (a fresh
    desk: an earlier lock of this test folder is replaced)."""
    roles = folder / "roles.yaml"
    lock = lock_path_for(roles)
    lock.unlink(missing_ok=True)
    people = Identities(keys_dir, load_directory(roles))
    bootstrap(roles, lock, "test desk", people.signer(maker), people.signer(checker))


def unprotect(engine: sa.Engine, table: str) -> None:
    """Remove the append-only triggers, as someone with the owner's rights can."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for op in ("update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        else:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def truncate(engine: sa.Engine, table: str, keep_to_seq: int) -> None:
    unprotect(engine, table)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE seq > :s"), {"s": keep_to_seq})


def rechain_journal(engine: sa.Engine, from_seq: int,
                    edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the record at ``from_seq`` and recompute every hash from there to the end."""
    unprotect(engine, "journal")
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT seq, ts_record, body, prev_hash FROM journal "
                                    "WHERE seq >= :s ORDER BY seq"), {"s": from_seq}).all()
        prev = rows[0].prev_hash
        for row in rows:
            body = row.body
            if row.seq == from_seq:
                record = json.loads(body)
                edit(record)
                body = canonical_json(record).decode("utf-8")
            digest = raw_entry_hash(prev, row.seq, body, row.ts_record)
            conn.execute(sa.text("UPDATE journal SET body = :b, prev_hash = :p, hash = :h "
                                 "WHERE seq = :s"),
                         {"b": body, "p": prev, "h": digest, "s": row.seq})
            prev = digest


def rechain_audit(engine: sa.Engine, from_seq: int,
                  edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the detail of audit record ``from_seq`` and recompute every hash after it."""
    unprotect(engine, "audit_log")
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT seq, body, prev_hash FROM audit_log "
                                    "WHERE seq >= :s ORDER BY seq"), {"s": from_seq}).all()
        prev = rows[0].prev_hash if rows else GENESIS
        for row in rows:
            body = json.loads(row.body)
            if row.seq == from_seq:
                edit(body["detail"])
            digest = entry_hash(prev, row.seq, body)
            conn.execute(sa.text("UPDATE audit_log SET body = :b, prev_hash = :p, hash = :h "
                                 "WHERE seq = :s"),
                         {"b": canonical_json(body).decode("utf-8"), "p": prev, "h": digest,
                          "s": row.seq})
            prev = digest
