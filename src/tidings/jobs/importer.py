"""Running one import job: pieces read as streams, rows written in chunks.

Each chunk of rows is prepared outside any transaction (``tidings.jobs.reader``), then
written in one: the endpoints (upserts, through the same domain rules as
UpdateEndpointsBatch), the segment member list, and the job's checkpoint (piece, byte
offset, line, counters, failures). A server killed at any instant leaves the store at a
chunk boundary, and the job resumes from there.

Rules kept from UpdateEndpointsBatch: upsert merging, ACTIVE on write, OptOut ALL without an
address, CohortId drawn for new endpoints, 15 KB and attribute limits, 250 attribute names
per project (a row that would pass it is refused), 15 endpoints per user, and an address
written makes other ACTIVE endpoints with that address INACTIVE (within a chunk, the last
row with an address keeps it). Imports also require Address and ChannelType for new
endpoints, as Pinpoint's do.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from sqlalchemy import Connection

from tidings.domain import endpoints as endpoint_rules
from tidings.domain import jobs as job_rules
from tidings.domain.common import now_iso
from tidings.domain.errors import InvalidInput, NotFound
from tidings.domain.imports import MEMBER, ItemCheck
from tidings.jobs import reader
from tidings.jobs.reader import NEW, ROW, ReadFailure
from tidings.jobs.sources import SourceError, pieces
from tidings.store import apps, endpoints, imports, jobs, segments
from tidings.store.db import Database

log = logging.getLogger("tidings.jobs")

ID_MEMBER = f"{MEMBER}.Id"


class JobTakenOver(Exception):
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
    channels: dict[str, int] = field(default_factory=dict)  # the member list, by channel type
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
                "channels": self.channels,
            },
        }

    def failed(self, messages: list[str], count: int | None = None) -> Progress:
        room = job_rules.MAX_FAILURES - len(self.failure_list)
        kept = self.failure_list + messages[:room] if room > 0 else self.failure_list
        return replace(
            self, failures=self.failures + (len(messages) if count is None else count), failure_list=kept
        )


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
        files_roots: tuple[str, ...],
        allow_loopback: bool,
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
        self.files_roots = files_roots
        self.allow_loopback = allow_loopback
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
                channels=cursor.get("channels") or {},
                completed_pieces=row.completed_pieces,
                failed_pieces=row.failed_pieces,
                processed=row.total_processed,
                failures=row.total_failures,
                failure_list=list(row.failures),
            )
        location = job_rules.import_source(self.definition["S3Url"], "S3Url", allow_http_loopback=True)
        refresh = bool(cursor.get("refresh"))
        try:
            found = pieces(location, self.files_roots)
        except SourceError as exc:
            start = Progress(pieces=[], refresh=refresh).failed([str(exc)])
            self._finish(start, force_status="FAILED")
            return None
        start = Progress(pieces=found, refresh=refresh)
        return self._commit(lambda conn: start)

    def _run_piece(self, progress: Progress) -> Progress | None:
        piece = progress.pieces[progress.piece]
        label = job_rules.piece_label(piece["name"], len(progress.pieces))
        with self.db.read() as conn:
            filters = endpoints.filters(conn, self.app_id)
        fmt = self.definition["Format"]
        task = reader.task_for(
            piece, fmt=fmt, offset=progress.offset, line=progress.line, header=progress.header,
            app_id=self.app_id, job_id=self.job_id, filters=filters, files_roots=self.files_roots,
            allow_loopback=self.allow_loopback,
        )  # fmt: skip
        helper = None
        if reader.wants_helper(piece, progress.offset):
            try:
                helper = reader.Helper(task, reader.lanes_for(piece, fmt, progress.offset))
            except OSError as exc:
                log.warning("import job %s: no reader process (%s); reading in this thread", self.job_id, exc)
        source = helper if helper is not None else reader.chunks(task, self.check, self.shape)
        try:
            for rows, errors, offset, line, header, names in source:
                chunk = (rows, errors, names)
                progress = self._commit_chunk(progress, chunk, offset, line, header, label, filters)
                if progress is None or self.stopping.is_set():
                    return progress
        except ReadFailure as exc:
            where = f" (after line {progress.line})" if progress.line else ""
            failed = progress.failed([f"{piece['name']}: {exc}{where}"], count=0)
            done = replace(
                failed, piece=progress.piece + 1, offset=0, line=0, header=None,
                failed_pieces=progress.failed_pieces + 1,
            )  # fmt: skip
            return self._commit(lambda conn: done)
        finally:
            if helper is not None:
                helper.close()
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
                raise JobTakenOver()
            return progress

        try:
            return self.db.transact(transaction)
        except (JobTakenOver, NotFound):
            log.warning("import job %s: the job was deleted or taken over; stopping", self.job_id)
            return None

    def _commit_chunk(self, progress: Progress, chunk: tuple, offset: int, line: int,
                      header: list[str] | None, label: str, filters: dict) -> Progress | None:  # fmt: skip
        rows, errors, names = chunk

        def work(conn: Connection) -> Progress:
            refused, added = self._apply(conn, rows, filters, names)
            found = sorted([*(tuple(e) for e in errors), *refused])
            channels = dict(progress.channels)
            for channel, count in added.items():
                channels[channel] = channels.get(channel, 0) + count
            after = replace(
                progress, offset=offset, line=line, header=header, channels=channels,
                processed=progress.processed + len(rows) + len(errors),
            )  # fmt: skip
            return after.failed([f"{label}line {n}: {message}" for n, message in found])

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
                        self._publish(conn, progress)
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

    def _publish(self, conn: Connection, progress: Progress) -> None:
        """Make the member list a version of the job's segment: a new segment, or the next
        version of the one the job refreshes. Its counts are the endpoints as imported."""
        segment_id, now, refresh = self.segment_id, now_iso(), progress.refresh
        assert segment_id is not None and self.list_id is not None
        counts = {channel: n for channel, n in sorted(progress.channels.items()) if n}
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

    # --- writing ----------------------------------------------------------------------------

    def _apply(self, conn: Connection, rows: list[tuple], reader_filters: dict,
               names: tuple = ()) -> tuple[list[tuple[int, str]], dict[str, int]]:  # fmt: skip
        """Write one chunk's prepared rows: the (line, message) of the rows refused, and how
        many endpoints of each channel type joined the member list.

        The hot path of an import: a handful of queries per chunk, none per row. A row the
        reader prepared as a new endpoint is stored as prepared when the endpoint does not
        exist and the RemoveAttributes filters have not changed since; any other row goes
        through ``apply_update`` over what is stored (or written earlier in the chunk).
        Rows are the reader's plain tuples, read by position (``ROW``, ``NEW``)."""
        app_id = self.app_id
        apps.get(conn, app_id, lock=True)
        filters = endpoints.filters(conn, app_id)
        speculation_holds = _normalized(filters) == _normalized(reader_filters)
        known = endpoints.known_names(conn, app_id)
        chunk_names = _pairs(names)
        given_ids = {endpoint_id for _, endpoint_id, generated, _, _, _ in rows if endpoint_id is not None and not generated}
        stored = imports.docs(conn, app_id, list(given_ids))
        # Which rows take the slow path, with their requests decoded; which users they name.
        requests: dict[int, dict] = {}
        seen: set[str] = set()
        named_users: list[str] = []
        user_rows = False
        user_at = NEW.user_id
        for index, (_, endpoint_id, _, request_json, new, _) in enumerate(rows):
            if request_json is None:
                user_rows = True
                continue
            if not speculation_holds or endpoint_id in stored or endpoint_id in seen:
                request = requests[index] = orjson.loads(request_json)
                user = request.get("User")
                if user and user.get("UserId"):
                    named_users.append(user["UserId"])
            elif type(new) is tuple and new[user_at]:
                named_users.append(new[user_at])
            seen.add(endpoint_id)
        by_user = imports.users_endpoints(conn, app_id, sorted(set(named_users))) if named_users else {}
        if requests or user_rows or not _fits(known, chunk_names, by_user, named_users):
            pending, written, refused, new_names = self._apply_rows(conn, rows, requests, stored, filters, known,
                                                                    bool(chunk_names - known), by_user)  # fmt: skip
        else:
            # Every row is a new endpoint as prepared, and no row can meet the attribute
            # name or per-user limits (see _fits): the chunk is stored as the reader made it.
            pending, refused = {}, []
            for line, endpoint_id, _, _, new, _ in rows:
                if type(new) is str:
                    refused.append((line, new))
                else:
                    pending[endpoint_id] = new
            written = list(pending)
            new_names = chunk_names - known
        _deactivate_shared_addresses(conn, app_id, written, pending)
        if new_names:
            endpoints.add_names(conn, app_id, new_names)
        imports.save_endpoints(conn, app_id, pending)
        user_rows_list = [row for row in rows if row[ROW.request] is None] if user_rows else []
        if not self.list_id:
            refused.extend((row[ROW.line], _user_row_needs_segment()) for row in user_rows_list)
            return refused, {}
        channel_of = {i: _channel(pending[i]) for i in written}
        if user_rows_list:
            channel_of.update(self._user_members(conn, user_rows_list, pending, refused))
        added: dict[str, int] = {}
        for endpoint_id in imports.add_members(conn, app_id, self.list_id, list(channel_of)):
            channel = channel_of[endpoint_id] or "NONE"
            added[channel] = added.get(channel, 0) + 1
        return refused, added

    def _apply_rows(self, conn: Connection, rows: list[tuple], requests: dict[int, dict], stored: dict,
                    filters: dict, known: set, names_to_check: bool,
                    by_user: dict) -> tuple[dict, list[str], list[tuple[int, str]], set]:  # fmt: skip
        """The chunk's rows one by one, in order, each through the rules that depend on the
        rows before it: (pending writes, ids written, rows refused, attribute names added).
        ``requests`` holds the decoded requests of the rows that are not stored as prepared."""
        now, job_id, cohort = now_iso(), self.job_id, random.random
        pending: dict[str, tuple | dict] = {}  # endpoint id -> as prepared, or a document
        written: list[str] = []
        refused: list[tuple[int, str]] = []
        new_names: set[tuple[str, str]] = set()
        for index, row in enumerate(rows):
            line, endpoint_id, generated, request_json, new, _ = row
            if request_json is None:
                continue
            request = requests.get(index)
            fresh: set | None = None
            try:
                if request is None:  # the endpoint is new: store it as the reader prepared it
                    if type(new) is str:
                        raise InvalidInput(new)
                    if names_to_check:
                        fresh = _fresh_names(orjson.loads(new[NEW.doc]), known, filters)
                    user = new[NEW.user_id]
                    if user:
                        self._join_user(conn, endpoint_id, new, user, None, by_user, pending, now)
                    value: tuple | dict = new
                else:
                    endpoint_rules.check_id(endpoint_id, ID_MEMBER)
                    before = _as_doc(pending.get(endpoint_id)) or stored.get(endpoint_id)
                    if before is None:
                        _require_new_members(request, None if generated else endpoint_id)
                    doc = endpoint_rules.apply_update(
                        before, request, now=now, request_id=job_id, cohort_id=int(cohort() * 100),
                        filters=filters, member=MEMBER,
                    )  # fmt: skip
                    fresh = _fresh_names(doc, known, filters)
                    user, previous = endpoint_rules.user_id(doc), endpoint_rules.user_id(before or {})
                    if user != previous:
                        self._join_user(conn, endpoint_id, doc, user, previous, by_user, pending, now)
                    value = doc
            except InvalidInput as error:
                refused.append((line, error.message))
                continue
            if fresh:
                known |= fresh
                new_names |= fresh
            pending[endpoint_id] = value
            written.append(endpoint_id)
        return pending, written, refused, new_names

    def _join_user(self, conn: Connection, endpoint_id: str, value: tuple | dict, user: str | None,
                   previous: str | None, by_user: dict, pending: dict, now: str) -> None:  # fmt: skip
        """Apply the 15-endpoints-per-user rule to an endpoint joining ``user`` (raises when it
        may not join; detaches the user's oldest push endpoint to make room for a push one).
        ``by_user`` maps the users of the chunk to their endpoints: documents, or prepared rows."""
        if user:
            current = by_user.get(user)
            if current is None:
                by_user[user] = {endpoint_id: value}
            else:
                if len(current) - (endpoint_id in current) >= endpoint_rules.MAX_ENDPOINTS_PER_USER:
                    self._make_room(conn, endpoint_id, value, user, current, pending, now)
                current[endpoint_id] = value
        if previous and previous in by_user:
            by_user[previous].pop(endpoint_id, None)

    def _make_room(self, conn: Connection, endpoint_id: str, value: tuple | dict, user: str,
                   current: dict, pending: dict, now: str) -> None:  # fmt: skip
        doc = _limit_view(value, user)
        others = sorted((i, _limit_view(v, user)) for i, v in current.items() if i != endpoint_id)
        for victim in endpoint_rules.make_room_for_user(doc, others, MEMBER):
            full = _as_doc(pending.get(victim)) or endpoints.get(conn, self.app_id, victim)
            if full is not None:
                pending[victim] = endpoint_rules.detached(full, now)
            current.pop(victim, None)

    def _user_members(self, conn: Connection, rows: list[tuple], pending: dict,
                      refused: list[tuple[int, str]]) -> dict[str, str | None]:  # fmt: skip
        """The endpoints (id -> channel type) of the users that user rows name: as stored,
        and as this chunk wrote them."""
        wanted = {u for row in rows for u in row[ROW.users]}
        owner: dict[str, tuple[str | None, str | None]] = {}  # endpoint id -> (user, channel)
        for user, found in imports.users_endpoints(conn, self.app_id, sorted(wanted)).items():
            for endpoint_id, lite in found.items():
                owner[endpoint_id] = (user, lite["ChannelType"])
        for endpoint_id, value in pending.items():
            user = value[NEW.user_id] if type(value) is tuple else endpoint_rules.user_id(value)
            owner[endpoint_id] = (user, _channel(value))
        by_user: dict[str, dict[str, str | None]] = {}
        for endpoint_id, (user, channel) in owner.items():
            if user in wanted:
                by_user.setdefault(user, {})[endpoint_id] = channel
        members: dict[str, str | None] = {}
        for row in rows:
            line, users = row[ROW.line], row[ROW.users]
            missing = [u for u in users if u not in by_user]
            if missing:
                refused.append((line, _no_endpoints(missing, self.app_id)))
            for user in users:
                members.update(sorted(by_user.get(user, {}).items()))
        return members


def _normalized(filters: dict[str, list[str]]) -> dict[str, list[str]]:
    return {kind: sorted(patterns) for kind, patterns in filters.items() if patterns}


def _pairs(flat: tuple) -> set[tuple[str, str]]:
    return set(zip(flat[::2], flat[1::2], strict=True))


def _fits(known: set, chunk_names: set, by_user: dict, users: list[str]) -> bool:
    """Whether no row of a chunk can be refused by the limits that depend on the rows before
    it: the project's attribute names with every name the chunk brings, and each user's stored
    endpoints with all of the chunk's rows that name the user, are within the limits."""
    if len(known) + len(chunk_names - known) > endpoint_rules.MAX_ATTRIBUTE_NAMES:
        return False
    limit = endpoint_rules.MAX_ENDPOINTS_PER_USER
    counts = Counter(users)
    if not by_user:  # none of the users has stored endpoints
        return not counts or max(counts.values()) <= limit
    return all(len(by_user.get(user, ())) + count <= limit for user, count in counts.items())


def _limit_view(value: tuple | dict, user: str) -> dict:
    """What the per-user rule reads of an endpoint (documents pass as they are)."""
    if type(value) is tuple:
        return {"ChannelType": value[NEW.channel_type], "EffectiveDate": value[NEW.effective_date],
                "User": {"UserId": user}}  # fmt: skip
    return value  # type: ignore[return-value]


def _channel(value: tuple | dict) -> str | None:
    return value[NEW.channel_type] if type(value) is tuple else value.get("ChannelType")  # type: ignore[union-attr]


def _as_doc(value: tuple | dict | None) -> dict | None:
    """A pending endpoint as a document (a prepared one is decoded from its JSON)."""
    if type(value) is tuple:
        return orjson.loads(value[NEW.doc])
    return value  # type: ignore[return-value]


def _require_new_members(request: dict, endpoint_id: str | None) -> None:
    reader._require_new_members(request, endpoint_id)


def _fresh_names(doc: dict, known: set, filters: dict) -> set[tuple[str, str]]:
    """The attribute names an endpoint brings that the project does not know yet (and that
    RemoveAttributes leaves); raises when they would pass the project's limit."""
    fresh = endpoint_rules.attribute_names(doc) - known
    if fresh:
        fresh = {(k, n) for k, n in fresh if not endpoint_rules.is_removed(k, n, filters)}
        _check_name_room(known, fresh)
    return fresh


def _check_name_room(known: set, fresh: set) -> None:
    if len(known) + len(fresh) > endpoint_rules.MAX_ATTRIBUTE_NAMES:
        shown = ", ".join(f"{endpoint_rules.ATTRIBUTE_PATHS[k]}.{n}" for k, n in sorted(fresh)[:5])
        raise InvalidInput(
            f"adds custom attribute names ({shown}) to the {len(known)} the application has; a "
            f"project may have at most {endpoint_rules.MAX_ATTRIBUTE_NAMES} across Attributes, Metrics and "
            "User.UserAttributes. Remove unused ones with RemoveAttributes",
            member=MEMBER,
        )


def _deactivate_shared_addresses(conn: Connection, app_id: str, written: list[str], pending: dict) -> None:
    """The shared-address rule (``domain.endpoints.address_keepers``) over a chunk: the last
    row of the chunk with an address keeps it."""
    keepers = endpoint_rules.address_keepers(_address_and_status(i, pending[i]) for i in written)
    if not keepers:
        return
    rivals = {i: d for i, d in imports.active_with_addresses(conn, app_id, list(keepers)).items() if i not in pending}
    if len(keepers) < len(written):  # some rows of the chunk may share an address
        for endpoint_id, value in pending.items():
            if _address_and_status(endpoint_id, value)[1] in keepers:
                rivals[endpoint_id] = _as_doc(value)  # type: ignore[assignment]
    for rival_id in endpoint_rules.displaced_by_address(keepers, rivals):
        pending[rival_id] = endpoint_rules.deactivated(rivals[rival_id])


def _address_and_status(endpoint_id: str, value: tuple | dict) -> tuple[str, str | None, str]:
    if type(value) is tuple:
        return endpoint_id, value[NEW.address], value[NEW.endpoint_status]
    return endpoint_id, value.get("Address"), value["EndpointStatus"]


def _user_row_needs_segment() -> str:
    return (
        "names only a user (User.UserId); such a row adds the user's endpoints to the imported "
        "segment, so the job needs DefineSegment or SegmentId"
    )


def _no_endpoints(users: list[str], app_id: str) -> str:
    shown = ", ".join(repr(u) for u in users[:5])
    return f"user {shown} has no endpoints in application {app_id!r}; import the user's endpoints first"
