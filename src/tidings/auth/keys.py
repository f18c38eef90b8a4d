"""Access keys: making, listing and deleting them, and the root key of a first start.

A key is an AWS-style pair: an id (``TK`` and 18 upper-case base32 characters, like AWS's
``AKIA...``) and a 40-character secret. Stored keys keep their secret sealed under the
server's master key (purpose ``access-key:<id>``); the secret is shown once, when made.
The root key may do everything; another key does what its identity policy allows (nothing
without one).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

import orjson

from tidings.domain import addresses
from tidings.domain.errors import Conflict, InvalidInput, NotFound
from tidings.domain.iam import check_identity_policy
from tidings.store import keys as stored
from tidings.store.db import Database
from tidings.store.sealing import Sealer

ID_PREFIX = "TK"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ROOT_NAME = "root"
_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)  # IAM's user-name characters


@dataclass(frozen=True)
class KeyPair:
    access_key_id: str
    secret_access_key: str

    def export_lines(self) -> str:
        """Shell lines that hand the pair to the AWS CLI, boto3 and `tidings` (eval-able)."""
        return f"export AWS_ACCESS_KEY_ID={self.access_key_id} AWS_SECRET_ACCESS_KEY={self.secret_access_key}"


def new_pair() -> KeyPair:
    key_id = ID_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(18))
    return KeyPair(key_id, base64.b64encode(secrets.token_bytes(30)).decode())


def sealing_purpose(access_key_id: str) -> str:
    return f"access-key:{access_key_id}"


def create(db: Database, sealer: Sealer, name: str, policy: object | None = None, *, is_root: bool = False) -> KeyPair:
    """Store a new key called ``name`` (with ``policy``, an identity policy document) and return its pair."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"key name {name!r} must be 1 to 64 letters, digits or the characters +=,.@_- (like an IAM user name)"
        )
    if policy is not None:
        check_identity_policy(policy)
    pair = new_pair()
    sealed = sealer.seal(pair.secret_access_key, sealing_purpose(pair.access_key_id))
    policy_text = orjson.dumps(policy).decode() if policy is not None else None

    def work(conn) -> None:
        if stored.named(conn, name) is not None:
            raise Conflict(f"a key named {name!r} exists; delete it first (`tidings keys delete {name}`) or pick another name")
        stored.add(conn, pair.access_key_id, name, sealed, policy_text, is_root=is_root)

    db.transact(work)
    return pair


def delete(db: Database, name: str) -> None:
    if not db.transact(lambda conn: stored.remove(conn, name)):
        raise NotFound(f"there is no key named {name!r}; `tidings keys list` shows the keys")


def stored_root(db: Database, sealer: Sealer) -> KeyPair | None:
    with db.read() as conn:
        row = stored.root(conn)
    if row is None:
        return None
    return KeyPair(row.access_key_id, sealer.open(row.sealed_secret, sealing_purpose(row.access_key_id)))


def first_start_root(db: Database, sealer: Sealer, host: str) -> KeyPair | None:
    """On a first start without any configured key, the root key to make (and print) or None.

    On loopback a root key is made and stored; on any other address the server refuses to start.
    """
    with db.read() as conn:
        if stored.root(conn) is not None:
            return None
        any_key = bool(stored.all_keys(conn))
    if not is_loopback(host):
        if any_key:
            return None  # the stored keys are all there is; nobody may do everything
        raise InvalidInput(
            f"refusing to listen on {host} without an access key: set TIDINGS_ACCESS_KEY_ID and "
            "TIDINGS_SECRET_ACCESS_KEY (or --access-key-id/--secret-access-key) to the root key pair you choose"
        )
    return create(db, sealer, ROOT_NAME, is_root=True)


def is_loopback(host: str) -> bool:
    return addresses.is_loopback_host(host.strip("[]"))
