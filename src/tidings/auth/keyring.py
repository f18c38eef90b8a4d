"""The keys a running server accepts: the configured root pair and the stored keys.

Stored keys are read into memory and read again every ``refresh_s`` seconds, so keys made or
deleted with `tidings keys` take effect within that time without a restart. A request with a
key id the ring does not know may read the store again sooner, at most once per ``miss_s``:
a flood of made-up ids costs one read a second, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import orjson

from tidings.auth.identity import Identity
from tidings.auth.keys import sealing_purpose
from tidings.domain.errors import TidingsError
from tidings.store import keys as stored
from tidings.store.db import Database
from tidings.store.sealing import Sealer

log = logging.getLogger("tidings.auth")


@dataclass(frozen=True)
class Key:
    identity: Identity
    secret: str


class KeyRing:
    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        root: tuple[str, str] | None = None,
        *,
        refresh_s: float = 2.0,
        miss_s: float = 1.0,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._root: dict[str, Key] = {}
        if root is not None:
            key_id, secret = root
            self._root[key_id] = Key(Identity(key_id, "root", True, None), secret)
        self._refresh_s = refresh_s
        self._miss_s = miss_s
        self._keys: dict[str, Key] = {}
        self._opened: dict[tuple[str, str], str] = {}  # (id, sealed) -> secret: open each once
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def cached(self, access_key_id: str) -> bool:
        """Whether ``find`` answers without reading the store."""
        age = time.monotonic() - self._read_at
        if access_key_id in self._root:
            return True
        return age < self._refresh_s and (access_key_id in self._keys or age < self._miss_s)

    def find(self, access_key_id: str) -> Key | None:
        """The key with this id, or None; may read the store (call it off the event loop then)."""
        if not self.cached(access_key_id):
            with self._lock:
                if not self.cached(access_key_id):  # another thread may have just read
                    self._read()
        return self._root.get(access_key_id) or self._keys.get(access_key_id)

    def _read(self) -> None:
        with self._db.read() as conn:
            rows = stored.all_keys(conn)
        keys: dict[str, Key] = {}
        opened: dict[tuple[str, str], str] = {}
        for row in rows:
            handle = (row.access_key_id, row.sealed_secret)
            secret = self._opened.get(handle)
            if secret is None:
                try:
                    secret = self._sealer.open(row.sealed_secret, sealing_purpose(row.access_key_id))
                except TidingsError as error:
                    # Sealed under another master key: that key cannot sign, the others still can.
                    log.error("access key %r cannot be used: %s", row.name, error.message)
                    continue
            opened[handle] = secret
            policy = orjson.loads(row.policy) if row.policy else None
            keys[row.access_key_id] = Key(Identity(row.access_key_id, row.name, row.is_root, policy), secret)
        self._keys, self._opened = keys, opened
        self._read_at = time.monotonic()
