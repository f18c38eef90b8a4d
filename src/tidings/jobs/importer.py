"""Running one import job: pieces read as streams, rows written in chunks.

Each chunk of rows is parsed outside any transaction, then written in one: the endpoints
(upserts, through the same domain rules as UpdateEndpointsBatch), the segment member list,
and the job's checkpoint (piece, byte offset, line, counters, failures). A server killed at
any instant leaves the store at a chunk boundary, and the job resumes from there.

Rules kept from UpdateEndpointsBatch: upsert merging, ACTIVE on write, OptOut ALL without an
address, CohortId drawn for new endpoints, 15 KB and attribute limits, 250 attribute names
per project (a row that would pass it is refused), 15 endpoints per user, and an address
written makes other ACTIVE endpoints with that address INACTIVE. Imports also require
Address and ChannelType for new endpoints, as Pinpoint's do.
"""

from __future__ import annotations

import csv
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from sqlalchemy import Connection

from tidings.domain import endpoints as rules
from tidings.domain import jobs as job_rules
from tidings.domain.common import new_id, now_iso
from tidings.domain.errors import InvalidInput, NotFound
from tidings.domain.imports import MEMBER, CsvPlan, ItemCheck, Row, RowError, json_row
from tidings.jobs.sources import LINE_LIMIT, SourceError, open_piece, pieces, skip_rest
from tidings.store import apps, endpoints, imports, jobs, segments
from tidings.store.db import Database

log = logging.getLogger("tidings.jobs")

CHUNK_ROWS = 5000
ID_MEMBER = f"{MEMBER}.Id"
CHUNK_BYTES = 8 * 1024 * 1024


class LeaseLost(Exception):
    """Another server took the job over (this one stalled past its lease)."""


@dataclass(frozen=True)
class Progress:
    """Where the job has got to, as its row in the store says; replaced after each commit."""

    pieces: list[dict]
    piece: int = 0
    offset: int = 0
    line: int = 0
    header: list[str] | None = None  # the CSV header of the current piece
    refresh: bool = False  # the job writes a new version of an existing segment
    completed_pieces: int = 0
    failed_pieces: int = 0
    processed: int = 0
    failures: int = 0
    failure_list: list[str] = field(default_factory=list)

    def values(self) -> dict:
        return {
            "status": "PROCESSING",
            "total_pieces": len(self.pieces),
            "completed_pieces": self.completed_pieces,
            "failed_pieces": self.failed_pieces,
            "total_processed": self.processed,
            "total_failures": self.failures,
            "failures": self.failure_list,
            "cursor": {
                "pieces": self.pieces,
                "piece": self.piece,
                "offset": self.offset,
                "line": self.line,
                "header": self.header,
                "refresh": self.refresh,
            },
        }

    def failed(self, messages: list[str], count: int | None = None) -> Progress:
        room = job_rules.MAX_FAILURES - len(self.failure_list)
        kept = self.failure_list + messages[:room] if room > 0 else self.failure_list
        return replace(
            self, failures=self.failures + (len(messages) if count is None else count), failure_list=kept
        )


@dataclass
class Chunk:
    rows: list[Row]
    errors: list[tuple[int, str]]  # (line, message) of rows refused while parsing
    offset: int  # after the chunk's last line
    line: int  # the chunk's last line


class ImportRun:
    def __init__(
        self,
        db: Database,
        row: Any,
        *,
        owner: str,
        check: ItemCheck,
        shape: Any,
        lease_s: float,
        stopping: threading.Event,
        segment_arn: Callable[[str, str], str],
    ) -> None:
        self.db = db
        self.app_id, self.job_id = row.app_id, row.id
        self.definition = row.definition
        self.row = row
        self.owner = owner
        self.check = check
        self.shape = shape
        self.lease_s = lease_s
        self.stopping = stopping
        self.segment_arn = segment_arn
        self.csv = self.definition["Format"] == "CSV"
        segment_id = self.definition.get("SegmentId")
        # The member list is the job's own until the job completes and a segment version
        # takes it; without DefineSegment the job only writes endpoints.
        self.list_id = self.job_id if segment_id else None
        self.segment_id = segment_id

    # --- the job -------------------------------------------------------------------------

    def run(self) -> None:
        progress = self._resume()
        if progress is None:
            return
        while progress.piece < len(progress.pieces):
            if self.stopping.is_set():
                return
            progress = self._run_piece(progress)
            if progress is None:
                return
        if not self.stopping.is_set():
            self._finish(progress)

    def _resume(self) -> Progress | None:
        cursor = self.row.cursor or {}
        if "pieces" in cursor:
            row = self.row
            return Progress(
                pieces=cursor["pieces"],
                piece=cursor["piece"],
                offset=cursor["offset"],
                line=cursor["line"],
                header=cursor.get("header"),
                refresh=cursor.get("refresh", False),
                completed_pieces=row.completed_pieces,
                failed_pieces=row.failed_pieces,
                processed=row.total_processed,
                failures=row.total_failures,
                failure_list=list(row.failures),
            )
        location = job_rules.import_source(self.definition["S3Url"], "S3Url", allow_http_loopback=True)
        refresh = bool(cursor.get("refresh"))
        try:
            found = pieces(location)
        except SourceError as exc:
            start = Progress(pieces=[], refresh=refresh).failed([str(exc)])
            self._finish(start, force_status="FAILED")
            return None
        start = Progress(pieces=found, refresh=refresh)
        return self._commit(lambda conn: start)

    def _run_piece(self, progress: Progress) -> Progress | None:
        piece = progress.pieces[progress.piece]
        label = job_rules.piece_label(piece["name"], len(progress.pieces))
        try:
            with open_piece(piece, progress.offset) as stream:
                for chunk, header in self._chunks(stream, progress):
                    progress = self._commit_chunk(progress, chunk, header, label)
                    if progress is None or self.stopping.is_set():
                        return progress
        except (SourceError, OSError, InvalidInput) as exc:
            message = exc.message if isinstance(exc, InvalidInput) else str(exc)
            where = f" after line {progress.line}" if progress.line else ""
            failed = progress.failed([f"{piece['name']}: {message}{where}"], count=0)
            done = replace(
                failed, piece=progress.piece + 1, offset=0, line=0, header=None,
                failed_pieces=progress.failed_pieces + 1,
            )  # fmt: skip
            return self._commit(lambda conn: done)
        done = replace(
            progress, piece=progress.piece + 1, offset=0, line=0, header=None,
            completed_pieces=progress.completed_pieces + 1,
        )  # fmt: skip
        return self._commit(lambda conn: done)

    def _commit(self, work: Callable[[Connection], Progress]) -> Progress | None:
        """Run ``work`` and write the progress it returns, in one transaction."""

        def transaction(conn: Connection) -> Progress:
            progress = work(conn)
            until = time.time() + self.lease_s
            if not jobs.advance(conn, self.app_id, self.job_id, self.owner, until, **progress.values()):
                raise LeaseLost()
            return progress

        try:
            return self.db.transact(transaction)
        except (LeaseLost, NotFound):
            log.warning("import job %s: the job was deleted or taken over; stopping", self.job_id)
            return None

    def _commit_chunk(self, progress: Progress, chunk: Chunk, header: list[str] | None,
                      label: str) -> Progress | None:  # fmt: skip
        def work(conn: Connection) -> Progress:
            refused = self._apply(conn, chunk.rows)
            errors = sorted(chunk.errors + refused)
            messages = [f"{label}line {line}: {message}" for line, message in errors]
            after = replace(
                progress,
                offset=chunk.offset,
                line=chunk.line,
                header=header,
                processed=progress.processed + len(chunk.rows) + len(chunk.errors),
            )
            return after.failed(messages)

        return self._commit(work)

    def _finish(self, progress: Progress, force_status: str | None = None) -> None:
        status = force_status or job_rules.final_status(
            pieces=len(progress.pieces),
            failed_pieces=progress.failed_pieces,
            processed=progress.processed,
            failures=progress.failures,
        )

        def work(conn: Connection) -> None:
            nonlocal progress
            final = status
            if self.list_id:
                if final == "COMPLETED":
                    try:
                        self._publish(conn, progress.refresh)
                    except NotFound as exc:
                        progress = progress.failed([f"the segment cannot be written: {exc.message}"], 0)
                        final = "FAILED"
                if final == "FAILED":
                    imports.drop_list(conn, self.app_id, self.list_id)
            values = progress.values()
            values.pop("status")
            values["cursor"] = None
            jobs.finish(conn, self.app_id, self.job_id, self.owner, final, now_iso(), **values)

        try:
            self.db.transact(work)
        except NotFound:
            return
        log.info("import job %s of application %s ended", self.job_id, self.app_id)

    def _publish(self, conn: Connection, refresh: bool) -> None:
        """Make the member list a version of the job's segment: a new segment, or the next
        version of the one the job refreshes."""
        segment_id, now = self.segment_id, now_iso()
        assert segment_id is not None and self.list_id is not None
        counts = imports.list_counts(conn, self.app_id, self.list_id)
        definition = self.definition
        imported = {
            "ChannelCounts": counts,
            "ExternalId": definition.get("ExternalId") or self.job_id,
            "Format": definition["Format"],
            "RoleArn": definition["RoleArn"],
            "S3Url": definition["S3Url"],
            "Size": sum(counts.values()),
        }
        if refresh:
            old = segments.get(conn, self.app_id, segment_id)
            doc = {
                **old,
                "ImportDefinition": imported,
                "LastModifiedDate": now,
                "SegmentType": "IMPORT",
                "Version": old["Version"] + 1,
            }
            if definition.get("SegmentName"):
                doc["Name"] = definition["SegmentName"]
            segments.add_version(conn, self.app_id, segment_id, doc["Version"], doc, member_list=self.list_id)
            return
        doc = {
            "ApplicationId": self.app_id,
            "Arn": self.segment_arn(self.app_id, segment_id),
            "CreationDate": now,
            "Id": segment_id,
            "ImportDefinition": imported,
            "LastModifiedDate": now,
            "Name": definition.get("SegmentName") or segment_id,
            "SegmentType": "IMPORT",
            "Version": 1,
        }
        segments.create(conn, self.app_id, segment_id, now, doc, member_list=self.list_id)

    # --- reading ----------------------------------------------------------------------------

    def _chunks(self, stream: BinaryIO, progress: Progress) -> Iterator[tuple[Chunk, list[str] | None]]:
        if not self.csv:
            for chunk in self._json_chunks(stream, progress.offset, progress.line):
                yield chunk, None
            return
        yield from self._csv_chunks(stream, progress)

    def _json_chunks(self, stream: BinaryIO, offset: int, line: int) -> Iterator[Chunk]:
        check, readline = self.check, stream.readline
        rows: list[Row] = []
        errors: list[tuple[int, str]] = []
        size = 0
        while True:
            raw = readline(LINE_LIMIT)
            if not raw:
                break
            line += 1
            offset += len(raw)
            size += len(raw)
            if len(raw) == LINE_LIMIT and not raw.endswith(b"\n"):
                offset += skip_rest(stream)
                errors.append((line, _too_long()))
                continue
            if raw.isspace():
                continue
            if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                rows.append(json_row(raw, line, check))
            except RowError as error:
                errors.append((line, error.message))
            if len(rows) + len(errors) >= CHUNK_ROWS or size >= CHUNK_BYTES:
                yield Chunk(rows, errors, offset, line)
                rows, errors, size = [], [], 0
        if rows or errors:
            yield Chunk(rows, errors, offset, line)

    def _csv_chunks(self, stream: BinaryIO, progress: Progress) -> Iterator[tuple[Chunk, list[str]]]:
        text = _DecodedLines(stream, progress.offset, progress.line)
        reader = csv.reader(text, strict=True)
        header = progress.header
        if header is None:
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InvalidInput(f"the CSV header cannot be read: {exc}") from None
        plan = CsvPlan(header, self.shape)
        check = self.check
        rows: list[Row] = []
        errors: list[tuple[int, str]] = []
        while True:
            start = text.line + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                errors.append((start, f"is not valid CSV ({exc})"))
                continue
            bad = text.take_problem()
            if bad:
                errors.append((start, bad))
            elif cells and any(cells):
                try:
                    rows.append(plan.row(cells, start, check))
                except RowError as error:
                    errors.append((start, error.message))
            if len(rows) + len(errors) >= CHUNK_ROWS or text.size >= CHUNK_BYTES:
                yield Chunk(rows, errors, text.offset, text.line), header
                rows, errors, text.size = [], [], 0
        if rows or errors or text.line > progress.line:
            yield Chunk(rows, errors, text.offset, text.line), header

    # --- writing ----------------------------------------------------------------------------

    def _apply(self, conn: Connection, rows: list[Row]) -> list[tuple[int, str]]:
        """Write one chunk's rows; the (line, message) of the rows refused.

        The hot path of an import: a handful of queries per chunk, none per row."""
        app_id = self.app_id
        apps.get(conn, app_id, lock=True)
        filters = endpoints.filters(conn, app_id)
        known = endpoints.known_names(conn, app_id)
        stored = imports.docs(conn, app_id, list({r.endpoint_id for r in rows if r.endpoint_id is not None}))
        named_users = set()
        for row in rows:
            user = row.request.get("User") if row.request is not None else None
            if user and user.get("UserId"):
                named_users.add(user["UserId"])
        by_user = imports.users_endpoints(conn, app_id, sorted(named_users)) if named_users else {}
        now, job_id, cohort = now_iso(), self.job_id, random.random
        apply_update, check_id = rules.apply_update, rules.check_id
        pending: dict[str, dict] = {}
        written: list[str] = []
        refused: list[tuple[int, str]] = []
        user_rows: list[Row] = []
        new_names: set[tuple[str, str]] = set()
        for row in rows:
            request = row.request
            if request is None:
                user_rows.append(row)
                continue
            endpoint_id = row.endpoint_id
            fresh = None
            try:
                if endpoint_id is None:
                    endpoint_id, before = new_id(), None
                else:
                    check_id(endpoint_id, ID_MEMBER)
                    before = pending.get(endpoint_id) or stored.get(endpoint_id)
                if before is None:
                    _require_new_members(request, row.endpoint_id)
                doc = apply_update(
                    before, request, now=now, request_id=job_id, cohort_id=int(cohort() * 100),
                    filters=filters, member=MEMBER,
                )  # fmt: skip
                if "Attributes" in doc or "Metrics" in doc or "User" in doc:
                    fresh = rules.attribute_names(doc) - known
                    if fresh:
                        fresh = {(k, n) for k, n in fresh if not rules.is_removed(k, n, filters)}
                        _check_name_room(known, fresh)
                user = doc["User"].get("UserId") if "User" in doc else None
                previous = before["User"].get("UserId") if before and "User" in before else None
                if user != previous:
                    self._join_user(conn, endpoint_id, doc, user, previous, by_user, pending, now)
            except InvalidInput as error:
                refused.append((row.line, error.message))
                continue
            if fresh:
                known |= fresh
                new_names |= fresh
            pending[endpoint_id] = doc
            written.append(endpoint_id)
        _deactivate_shared_addresses(conn, app_id, written, pending)
        if new_names:
            endpoints.add_names(conn, app_id, new_names)
        imports.save_endpoints(conn, app_id, pending)
        if user_rows:
            written.extend(self._user_members(conn, user_rows, pending, refused))
        if self.list_id:
            imports.add_members(conn, app_id, self.list_id, list(dict.fromkeys(written)))
        return refused

    def _join_user(self, conn: Connection, endpoint_id: str, doc: dict, user: str | None,
                   previous: str | None, by_user: dict, pending: dict, now: str) -> None:  # fmt: skip
        """Apply the 15-endpoints-per-user rule to an endpoint joining ``user``."""
        if user:
            others = {i: d for i, d in by_user.get(user, {}).items() if i != endpoint_id}
            victims = rules.make_room_for_user(doc, sorted(others.items()), MEMBER)
            for victim in victims:
                full = pending.get(victim) or endpoints.get(conn, self.app_id, victim)
                if full is not None:
                    pending[victim] = rules.detached(full, now)
                by_user[user].pop(victim, None)
            by_user.setdefault(user, {})[endpoint_id] = doc
        if previous and previous in by_user:
            by_user[previous].pop(endpoint_id, None)

    def _user_members(self, conn: Connection, rows: list[Row], pending: dict[str, dict],
                      refused: list[tuple[int, str]]) -> list[str]:  # fmt: skip
        """The endpoints of the users that user rows name (existing ones, and this chunk's)."""
        if not self.list_id:
            for row in rows:
                refused.append((row.line, _user_row_needs_segment()))
            return []
        users = sorted({u for row in rows for u in row.users})
        found = imports.users_endpoints(conn, self.app_id, users)
        for endpoint_id, doc in pending.items():
            user = rules.user_id(doc)
            if user in found or user in users:
                found.setdefault(user, {})[endpoint_id] = doc
        members: list[str] = []
        for row in rows:
            missing = [u for u in row.users if not found.get(u)]
            if missing:
                refused.append((row.line, _no_endpoints(missing, self.app_id)))
            for user in row.users:
                members.extend(sorted(found.get(user, {})))
        return members


def _require_new_members(request: dict, endpoint_id: str | None) -> None:
    for member in ("Address", "ChannelType"):
        if member not in request:
            which = f"endpoint {endpoint_id!r} does not exist yet" if endpoint_id else "the row has no Id"
            raise InvalidInput(
                f"{MEMBER}.{member} is required for a new endpoint ({which}); give the row an "
                "Address and a ChannelType, or the Id of an existing endpoint to update",
                member=f"{MEMBER}.{member}",
            )


def _check_name_room(known: set, fresh: set) -> None:
    if len(known) + len(fresh) > rules.MAX_ATTRIBUTE_NAMES:
        shown = ", ".join(f"{rules.ATTRIBUTE_PATHS[k]}.{n}" for k, n in sorted(fresh)[:5])
        raise InvalidInput(
            f"adds custom attribute names ({shown}) to the {len(known)} the application has; a "
            f"project may have at most {rules.MAX_ATTRIBUTE_NAMES} across Attributes, Metrics and "
            "User.UserAttributes. Remove unused ones with RemoveAttributes",
            member=MEMBER,
        )


def _deactivate_shared_addresses(conn: Connection, app_id: str, written: list[str], pending: dict) -> None:
    """An endpoint written with an address makes other ACTIVE endpoints with it INACTIVE; the
    last row of the chunk with an address keeps it."""
    latest: dict[str, str] = {}
    for endpoint_id in written:
        doc = pending[endpoint_id]
        address = doc.get("Address")
        if address and doc["EndpointStatus"] == "ACTIVE":
            latest[address] = endpoint_id
    if not latest:
        return
    stored = imports.active_with_addresses(conn, app_id, list(latest))
    rivals = {i: d for i, d in stored.items() if i not in pending}
    if len(latest) < len(written):  # some rows of the chunk share an address
        rivals.update({i: d for i, d in pending.items() if d.get("Address") in latest})
    for rival_id, rival in rivals.items():
        if rival_id != latest[rival["Address"]] and rival["EndpointStatus"] == "ACTIVE":
            pending[rival_id] = rules.deactivated(rival)


def _too_long() -> str:
    return f"is longer than {LINE_LIMIT // 1024} KB; an endpoint may be at most {rules.MAX_ENDPOINT_BYTES // 1024} KB"


def _user_row_needs_segment() -> str:
    return (
        "names only a user (User.UserId); such a row adds the user's endpoints to the imported "
        "segment, so the job needs DefineSegment or SegmentId"
    )


def _no_endpoints(users: list[str], app_id: str) -> str:
    shown = ", ".join(repr(u) for u in users[:5])
    return f"user {shown} has no endpoints in application {app_id!r}; import the user's endpoints first"


class _DecodedLines:
    """The lines of a byte stream as text for the csv module, keeping count of the line and
    byte offset reached, and of lines that are not UTF-8."""

    def __init__(self, stream: BinaryIO, offset: int, line: int) -> None:
        self.stream = stream
        self.offset = offset
        self.line = line
        self.size = 0
        self.problem: str | None = None

    def __iter__(self) -> _DecodedLines:
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(LINE_LIMIT)
        if not raw:
            raise StopIteration
        self.line += 1
        self.offset += len(raw)
        self.size += len(raw)
        if len(raw) == LINE_LIMIT and not raw.endswith(b"\n"):
            self.offset += skip_rest(self.stream)
            self.problem = self.problem or _too_long()
            return "\n"
        if self.offset == len(raw) and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            self.problem = self.problem or f"is not UTF-8 (byte {exc.start + 1} of line {self.line})"
            return raw.decode(errors="replace")

    def take_problem(self) -> str | None:
        problem, self.problem = self.problem, None
        return problem
