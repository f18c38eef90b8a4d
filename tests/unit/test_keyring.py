"""The key ring of a running server: keys made or deleted in the store show within seconds,
and unknown key ids cost at most one read of the store a second (counted with SQLAlchemy's
own statement events, on a real SQLite store)."""

from __future__ import annotations

import time

from sqlalchemy import event

from tests.services import migrated_store
from tidings.auth import keys
from tidings.auth.keyring import KeyRing
from tidings.store.db import Database
from tidings.store.sealing import Sealer


def test_keys_appear_and_vanish_and_misses_are_rate_limited(tmp_path):
    with migrated_store("sqlite", tmp_path) as db:
        reads: list[str] = []  # the ring's reads of the keys

        @event.listens_for(db.engine, "before_cursor_execute")
        def count(conn, cursor, statement, *args):
            if "FROM access_keys" in statement:
                reads.append(statement)

        sealer = Sealer(bytes(32))
        ring = KeyRing(db, sealer, ("TKROOTROOTROOTROOTRO", "root-secret"), refresh_s=2.0, miss_s=1.0)
        assert ring.find("TKROOTROOTROOTROOTRO").identity.is_root and reads == []

        for _ in range(50):  # a flood of made-up ids: one read
            assert ring.find("TKNOBODYNOBODYNOBODY") is None
        assert len(reads) == 1

        cli = Database(db.url)  # `tidings keys` is another process with its own connections
        made = keys.create(cli, sealer, "backend")
        assert ring.find(made.access_key_id) is None  # read less than a second ago
        time.sleep(1.05)
        found = ring.find(made.access_key_id)
        assert found is not None and found.secret == made.secret_access_key
        assert (found.identity.name, found.identity.is_root, found.identity.policy) == ("backend", False, None)
        assert len(reads) == 2
        for _ in range(50):  # known and fresh: no read
            ring.find(made.access_key_id)
        assert len(reads) == 2

        keys.delete(cli, "backend")
        cli.dispose()
        time.sleep(2.05)
        assert ring.find(made.access_key_id) is None
        assert len(reads) == 3


def test_a_key_sealed_under_another_master_key_is_left_out_and_the_others_still_work(tmp_path):
    with migrated_store("sqlite", tmp_path) as db:
        ours, theirs = Sealer(bytes(32)), Sealer(bytes(range(32)))
        good = keys.create(db, ours, "good")
        stray = keys.create(db, theirs, "stray")  # made with a wrong --data-dir
        ring = KeyRing(db, ours, None)
        found = ring.find(good.access_key_id)
        assert found is not None and found.secret == good.secret_access_key
        assert ring.find(stray.access_key_id) is None
