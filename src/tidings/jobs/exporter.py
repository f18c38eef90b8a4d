"""Running one export job: a segment's endpoints (or all the app's), streamed in keyset pages
into JSON-lines files under ``<S3UrlPrefix>/<job id>/``, 100,000 endpoints a piece. The
prefix must lie inside the server's --files-root (``tidings.jobs.files``).

Each line is the endpoint as GetEndpoint answers it, so the files can be imported again.
An export interrupted by a crash starts over: its folder is emptied and written afresh.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tidings.domain import jobs as job_rules
from tidings.domain import segments as seg
from tidings.domain.common import now_iso
from tidings.domain.errors import NotFound
from tidings.jobs.files import Outside, confine, create_file, fresh_directory
from tidings.store import audience, jobs
from tidings.store.db import Database

log = logging.getLogger("tidings.jobs")

PIECE_LINES = 100_000
PROGRESS_EVERY = 20_000  # endpoints between progress writes


class ExportRun:
    def __init__(
        self,
        db: Database,
        row: Any,
        *,
        owner: str,
        lease_s: float,
        stopping: threading.Event,
        files_roots: tuple[str, ...],
    ) -> None:
        self.db = db
        self.files_roots = files_roots
        self.row = row
        self.app_id, self.job_id = row.app_id, row.id
        self.owner = owner
        self.lease_s = lease_s
        self.stopping = stopping

    def _advance(self, **values: Any) -> bool:
        until = time.time() + self.lease_s
        return self.db.transact(
            lambda conn: jobs.advance(conn, self.app_id, self.job_id, self.owner, until, **values)
        )

    def _end(self, status: str, **values: Any) -> None:
        self.db.transact(
            lambda conn: jobs.finish(conn, self.app_id, self.job_id, self.owner, status, now_iso(), **values)
        )
        log.info("export job %s of application %s ended %s", self.job_id, self.app_id, status)

    def run(self) -> None:
        definition = self.row.definition
        prefix = job_rules.export_target(definition["S3UrlPrefix"], "S3UrlPrefix").path or "/"
        try:
            cond = self._condition(definition)
            root, real = confine(prefix, self.files_roots, "S3UrlPrefix")
        except (NotFound, Outside) as exc:
            self._end("FAILED", total_failures=1, failures=[exc.message])
            return
        folder = Path(real) / self.job_id
        with contextlib.ExitStack() as stack:
            try:
                # A run cut short starts over in an emptied folder.
                folder_fd = stack.enter_context(fresh_directory(root, real, self.job_id))
            except OSError as exc:
                message = f"{folder} cannot be written: {exc.strerror or exc}"
                self._end("FAILED", total_pieces=1, failed_pieces=1, failures=[message])
                return
            self._write(folder, folder_fd, cond)

    def _write(self, folder: Path, folder_fd: int, cond: seg.Cond) -> None:
        if not self._advance(status="PROCESSING", total_processed=0, total_pieces=0, completed_pieces=0):
            return
        written, piece, sink = 0, 0, None
        try:
            prefix = b'{"ApplicationId":' + orjson.dumps(self.app_id) + b',"Id":'
            for member in audience.stream(self.db, self.app_id, cond):
                if sink is None or written % PIECE_LINES == 0 and written:
                    if sink is not None:
                        sink.close()
                        piece += 1
                    sink = create_file(folder_fd, f"part-{piece:05d}.json")
                doc = member.doc.encode()
                sink.write(prefix + orjson.dumps(member.id) + (b"," + doc[1:] if len(doc) > 2 else b"}") + b"\n")
                written += 1
                if written % PROGRESS_EVERY == 0 and (
                    self.stopping.is_set() or not self._advance(total_processed=written, total_pieces=piece + 1)
                ):
                    return
        except OSError as exc:
            message = f"{folder} cannot be written: {exc.strerror or exc}"
            self._end("FAILED", total_processed=written, total_pieces=piece + 1, failed_pieces=1, failures=[message])
            return
        finally:
            if sink is not None:
                sink.close()
        pieces = piece + 1 if written else 0
        self._end("COMPLETED", total_processed=written, total_pieces=pieces, completed_pieces=pieces)

    def _condition(self, definition: dict) -> seg.Cond:
        segment_id = definition.get("SegmentId")
        if not segment_id:
            return seg.Const(True)
        with self.db.read() as conn:
            return audience.condition(
                conn, self.app_id, segment_id, definition.get("SegmentVersion"), datetime.now(UTC)
            )
