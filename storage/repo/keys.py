"""Key files: several passwords wrap the same master keys (restic's key list/add/remove/passwd).

Every file under keys/ wraps the one pair of master keys with its own password, so adding
or removing a password never re-encrypts data. A repository of version 1 with a single
key file is simply a list of one."""
from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .crypto import wrap_keys
from .format import KEYS_PREFIX, RepositoryError, isoformat, utcnow

if TYPE_CHECKING:
    from .repository import Repository


@dataclass(frozen=True)
class KeyInfo:
    id: str
    created: str
    host: str
    kdf: str
    current: bool  # the key file this Repository was opened with


def list_keys(repo: Repository) -> list[KeyInfo]:
    """Every key file, oldest first (their plaintext fields; nothing is unwrapped)."""
    keys = []
    for name in repo.backend.list(KEYS_PREFIX):
        key_id = name[len(KEYS_PREFIX):]
        try:
            doc = json.loads(repo.backend.get(name))
        except ValueError as e:
            raise RepositoryError(f"key file {name} of repository {repo.name} is damaged: {e}") from e
        keys.append(KeyInfo(key_id, str(doc.get("created", "")), str(doc.get("host", "")),
                            str(doc.get("kdf", "")), key_id == repo.key_id))
    return sorted(keys, key=lambda k: (k.created, k.id))


def add_key(repo: Repository, password: str | bytes) -> str:
    """Wrap the master keys with another password; the new key file's id."""
    if not password:
        raise RepositoryError(f"an empty password is not allowed for repository {repo.name}")
    kdf = repo.config.get("kdf", {})
    key_id = secrets.token_hex(16)
    doc = wrap_keys(repo.cipher.keys, password.encode() if isinstance(password, str) else password,
                    kdf=kdf.get("algorithm", "argon2id"), params=kdf.get("params"),
                    extra={"created": isoformat(utcnow()), "host": socket.gethostname()})
    repo.backend.put(KEYS_PREFIX + key_id, doc, if_absent=True)
    return key_id


def resolve_key(repo: Repository, ref: str) -> str:
    """A key id from an id or a unique prefix of one."""
    ids = [k.id for k in list_keys(repo)]
    matches = [i for i in ids if i.startswith(ref)] if ref else []
    if ref in ids:
        return ref
    if not matches:
        raise RepositoryError(f"no key {ref!r} in repository {repo.name}: `key list` shows its keys")
    if len(matches) > 1:
        raise RepositoryError(f"key id {ref!r} is ambiguous in repository {repo.name}: give more characters")
    return matches[0]


def remove_key(repo: Repository, ref: str) -> str:
    """Delete a key file: its password no longer opens the repository. Refuses the last
    key (the data would be lost for good) and the key this Repository was opened with
    (change that one with change_password)."""
    key_id = resolve_key(repo, ref)
    if len(list_keys(repo)) <= 1:
        raise RepositoryError(f"key {key_id[:8]} is the last key of repository {repo.name}: add another first")
    if key_id == repo.key_id:
        raise RepositoryError(f"key {key_id[:8]} is the one this password opened repository {repo.name} "
                              f"with: open it with another key's password to remove it, or change the password")
    repo.backend.delete(KEYS_PREFIX + key_id)
    return key_id


def change_password(repo: Repository, new_password: str | bytes) -> str:
    """Replace the key this Repository was opened with by one for the new password: the
    new key is written before the old one goes, so one of them always opens it."""
    old = repo.key_id
    new = add_key(repo, new_password)
    repo.key_id = new
    if old:
        repo.backend.delete(KEYS_PREFIX + old)
    return new
