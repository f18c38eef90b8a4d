"""Reading one piece of an import into chunks of prepared rows.

The reader parses and validates each row and, because most imported endpoints are new,
also works out the endpoint the row would create (``apply_update`` over nothing) and
serializes it, as the row the store writes (``NewEndpoint``). The writer
(``tidings.jobs.importer``) then stores those prepared rows as they are, and only goes back
to a row's request when the endpoint turns out to exist, or appears twice in a chunk.
Everything the reader emits is plain tuples, strings and bytes.

Large local pieces and S3 objects are read by helper processes (``python -m tidings.jobs.reader``):
they use the other cores, their garbage collectors never scan the server's heap, and
parsing never holds the server's GIL. A helper reads a task from stdin and writes
length-prefixed ``marshal`` frames to stdout; it is stateless, so a job that resumes simply
starts new ones at the checkpoint's offset. A large local JSON file is read by several
helpers at once, each preparing every n-th chunk (lanes): chunk boundaries depend only on
line counts and sizes, so each helper finds them by skimming the lines it does not prepare,
and the job takes the chunks in file order, one helper after the other. Small pieces and
https:// URLs are read in the job's thread with the same code.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import marshal
import os
import random
import struct
import subprocess
import sys
from collections.abc import Iterator
from itertools import chain
from typing import Any, BinaryIO, NamedTuple

try:
    import fcntl
except ImportError:  # Windows has no fcntl
    fcntl = None  # type: ignore[assignment]

import orjson

from tidings.domain import endpoints as endpoint_rules
from tidings.domain.common import new_id, now_iso
from tidings.domain.errors import InvalidInput
from tidings.domain.imports import MEMBER, CsvPlan, ItemCheck, Row, RowError, json_row
from tidings.jobs.sources import LINE_LIMIT, SourceError, open_piece, skip_rest

CHUNK_ROWS = 5000
CHUNK_BYTES = 8 * 1024 * 1024
HELPER_MIN_BYTES = 4 * 1024 * 1024  # smaller pieces are read in the job's thread
LANE_MIN_BYTES = 2 * HELPER_MIN_BYTES  # a local JSON file this large is read by several helpers
MAX_LANES = 4
GZIP_EXPANSION_GUESS = 10
_FRAME = struct.Struct("<Q")


class NewEndpoint(NamedTuple):
    """A row's endpoint as the reader prepared it, should the endpoint be new: the row of
    the endpoints table (``tidings.store.imports.ENDPOINT_COLUMNS``), which the writer
    stores as it is. It crosses from the reader process as a plain tuple (marshal takes no
    subclasses), and the writer keeps it one: the fields are read by position (``NEW``)."""

    app_id: str
    id: str
    channel_type: str | None
    address: str | None
    endpoint_status: str
    opt_out: str
    user_id: str | None
    cohort_id: int
    creation_date: str
    effective_date: str
    doc: str  # the document as JSON text


# The positions of NewEndpoint's fields, for code that reads them from plain tuples.
NEW = NewEndpoint(*range(len(NewEndpoint._fields)))  # type: ignore[arg-type]


class PreparedRow(NamedTuple):
    """One row of a chunk (as a plain tuple too; ``ROW`` names the positions). ``new`` is
    the prepared endpoint, or the message refusing the row as a new endpoint, or None for a
    user row (a row naming only users). A chunk is (rows, errors, offset, line, CSV header,
    every name its rows bring)."""

    line: int
    endpoint_id: str | None
    generated: bool  # the reader drew the id (the row had none)
    request: bytes | None  # the row's request as JSON
    new: tuple | str | None  # a NewEndpoint as a plain tuple
    users: tuple  # the users a user row names


ROW = PreparedRow(*range(len(PreparedRow._fields)))  # type: ignore[arg-type]


class ReadFailure(Exception):
    """The piece cannot be read on (the message says why); rows before it were sent."""


def task_for(piece: dict, *, fmt: str, offset: int, line: int, header: list[str] | None,
             app_id: str, job_id: str, filters: dict[str, list[str]], files_roots: tuple[str, ...],
             allow_loopback: bool) -> dict:  # fmt: skip
    return {
        "piece": piece, "format": fmt, "offset": offset, "line": line, "header": header,
        "app_id": app_id, "job_id": job_id, "filters": filters, "files_roots": tuple(files_roots),
        "allow_loopback": allow_loopback, "lane": 0, "lanes": 1,
    }  # fmt: skip


def chunks(task: dict, check: ItemCheck, shape: Any) -> Iterator[tuple]:
    """(rows, errors, offset, line, header) per chunk of the piece, from the task's offset.
    Raises ReadFailure when the piece cannot be read on."""
    try:
        reach = {"roots": tuple(task["files_roots"]), "allow_loopback": task["allow_loopback"]}
        with open_piece(task["piece"], task["offset"], **reach) as stream:
            if task["format"] == "CSV":
                yield from _csv_chunks(stream, task, check, shape)
            else:
                yield from _json_chunks(stream, task, check)
    except InvalidInput as exc:
        raise ReadFailure(exc.message) from None
    except (SourceError, OSError) as exc:
        raise ReadFailure(str(exc)) from None


# --- preparing rows --------------------------------------------------------------------


class _Preparer:
    def __init__(self, task: dict) -> None:
        self.app_id = task["app_id"]
        self.job_id = task["job_id"]
        self.filters = task["filters"]
        self.now = now_iso()
        self.cohort = random.random
        # Every attribute name of the chunk's endpoints, by attribute type.
        self.names: dict[str, set[str]] = {kind: set() for kind in endpoint_rules.ATTRIBUTE_TYPES}

    def names_seen(self) -> tuple:
        """The chunk's attribute names that RemoveAttributes leaves, flat (kind, name, kind,
        name, ...): one object rather than one per name."""
        pairs = {(kind, name) for kind, names in self.names.items() for name in names}
        if self.filters:
            pairs = {(k, n) for k, n in pairs if not endpoint_rules.is_removed(k, n, self.filters)}
        return tuple(chain.from_iterable(sorted(pairs)))

    def row(self, row: Row) -> tuple:
        if row.request is None:
            return (row.line, None, False, None, None, row.users)
        generated = row.endpoint_id is None
        endpoint_id = new_id() if generated else row.endpoint_id
        request = row.request
        cohort_id = int(self.cohort() * 100)
        try:
            if not generated:
                endpoint_rules.check_id(endpoint_id, f"{MEMBER}.Id")
            _require_new_members(request, row.endpoint_id)
            doc, encoded = endpoint_rules.apply_update_encoded(
                None, request, now=self.now, request_id=self.job_id, cohort_id=cohort_id,
                filters=self.filters, member=MEMBER,
            )  # fmt: skip
        except InvalidInput as error:
            return (row.line, endpoint_id, generated, orjson.dumps(request), error.message, ())
        for kind, values in endpoint_rules.attribute_maps(doc):
            if values:
                self.names[kind].update(values)
        user = doc.get("User")
        new = (
            self.app_id, endpoint_id, doc.get("ChannelType"), doc.get("Address"), doc["EndpointStatus"],
            doc["OptOut"], user.get("UserId") if user else None, cohort_id, doc["CreationDate"],
            doc["EffectiveDate"], encoded.decode(),
        )  # fmt: skip
        return (row.line, endpoint_id, generated, orjson.dumps(request), new, ())


def _require_new_members(request: dict, endpoint_id: str | None) -> None:
    for member in ("Address", "ChannelType"):
        if member not in request:
            which = f"endpoint {endpoint_id!r} does not exist yet" if endpoint_id else "the row has no Id"
            raise InvalidInput(
                f"{MEMBER}.{member} is required for a new endpoint ({which}); give the row an "
                "Address and a ChannelType, or the Id of an existing endpoint to update",
                member=f"{MEMBER}.{member}",
            )


def _too_long() -> str:
    return (
        f"is longer than {LINE_LIMIT // 1024} KB; an endpoint may be at most "
        f"{endpoint_rules.MAX_ENDPOINT_BYTES // 1024} KB"
    )


def _json_chunks(stream: BinaryIO, task: dict, check: ItemCheck) -> Iterator[tuple]:
    """The chunks of a JSON lines piece; with lanes, only this lane's (every ``lanes``-th
    chunk from the task's offset). A chunk ends after CHUNK_ROWS rows and refused lines,
    or CHUNK_BYTES bytes: a line's bytes and whether it is blank say where, so lanes find
    the boundaries of the chunks they skim without parsing them."""
    prepare = _Preparer(task)
    offset, line = task["offset"], task["line"]
    lane, lanes = task["lane"], task["lanes"]
    readline = stream.readline
    rows: list[tuple] = []
    errors: list[tuple[int, str]] = []
    size = count = 0
    mine = lane == 0  # whether this lane prepares the chunk being read
    chunk = 0
    while True:
        raw = readline(LINE_LIMIT)
        if not raw:
            break
        line += 1
        offset += len(raw)
        size += len(raw)
        if len(raw) == LINE_LIMIT and not raw.endswith(b"\n"):
            offset += skip_rest(stream)
            count += 1
            if mine:
                errors.append((line, _too_long()))
        elif not raw.isspace():
            count += 1
            if mine:
                if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    rows.append(prepare.row(json_row(raw, line, check)))
                except RowError as error:
                    errors.append((line, error.message))
        if count >= CHUNK_ROWS or size >= CHUNK_BYTES:
            if mine:
                yield rows, errors, offset, line, None, prepare.names_seen()
                rows, errors = [], []
                prepare = _Preparer(task)
            size = count = 0
            chunk += 1
            mine = chunk % lanes == lane
    if mine and line > task["line"]:
        yield rows, errors, offset, line, None, prepare.names_seen()


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
            self.problem = self.problem or f"is not UTF-8 (byte {exc.start + 1} of the line)"
            return raw.decode(errors="replace")

    def take_problem(self) -> str | None:
        problem, self.problem = self.problem, None
        return problem


def _csv_chunks(stream: BinaryIO, task: dict, check: ItemCheck, shape: Any) -> Iterator[tuple]:
    prepare = _Preparer(task)
    text = _DecodedLines(stream, task["offset"], task["line"])
    reader = csv.reader(text, strict=True)
    header = task["header"]
    if header is None:
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"the CSV header cannot be read: {exc}") from None
        if text.take_problem():
            raise InvalidInput("the CSV header is not UTF-8 text")
    plan = CsvPlan(header, shape)
    rows: list[tuple] = []
    errors: list[tuple[int, str]] = []
    while True:
        start = text.line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            text.take_problem()
            errors.append((start, f"is not valid CSV ({exc})"))
            continue
        bad = text.take_problem()
        if bad:
            errors.append((start, bad))
        elif cells and any(cells):
            try:
                rows.append(prepare.row(plan.row(cells, start, check)))
            except RowError as error:
                errors.append((start, error.message))
        if len(rows) + len(errors) >= CHUNK_ROWS or text.size >= CHUNK_BYTES:
            yield rows, errors, text.offset, text.line, header, prepare.names_seen()
            rows, errors, text.size = [], [], 0
            prepare = _Preparer(task)
    if rows or errors or text.line > task["line"]:
        yield rows, errors, text.offset, text.line, header, prepare.names_seen()


# --- the helper process ------------------------------------------------------------------


def wants_helper(piece: dict, offset: int) -> bool:
    """Whether enough is left to parse to be worth a process. Offsets count decompressed
    bytes, so a gzipped piece's size is taken times the expansion endpoint JSON usually has
    (a piece is taken as gzipped by its .gz name: its bytes are read only where the piece is
    opened, inside --files-root)."""
    if "key" in piece:
        size, gzipped = piece["size"], piece["key"].endswith(".gz")
    elif "path" in piece:
        try:
            size = os.path.getsize(piece["path"])
        except OSError:
            return False
        gzipped = piece["path"].endswith(".gz")
    else:
        return False
    if gzipped:
        size *= GZIP_EXPANSION_GUESS
    return size - offset >= HELPER_MIN_BYTES


def lanes_for(piece: dict, fmt: str, offset: int) -> int:
    """How many helpers read the piece at once: several for a large local JSON file (CSV
    rows may span lines, and a remote piece would be fetched once per helper), as many as
    the cores this process may use, up to MAX_LANES."""
    if fmt != "JSON" or "path" not in piece:
        return 1
    try:
        left = os.path.getsize(piece["path"]) - offset
    except OSError:
        return 1
    if piece["path"].endswith(".gz"):
        left *= GZIP_EXPANSION_GUESS
    if left < LANE_MIN_BYTES:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_LANES, cores))


class Helper:
    """The reader processes of one piece, one per lane: iterate it for the piece's chunks,
    in order; close it to stop them early."""

    def __init__(self, task: dict, lanes: int = 1) -> None:
        self.processes: list[subprocess.Popen] = []
        try:
            for lane in range(lanes):
                process = subprocess.Popen(
                    [sys.executable, "-m", "tidings.jobs.reader"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    bufsize=0,
                )
                self.processes.append(process)
                _widen(process.stdout)
                assert process.stdin is not None
                process.stdin.write(marshal.dumps({**task, "lane": lane, "lanes": lanes}))
                process.stdin.close()
        except OSError:
            self.close()
            raise

    def __iter__(self) -> Iterator[tuple]:
        lane = 0
        while True:
            out = self.processes[lane].stdout
            assert out is not None
            head = _read(out, _FRAME.size)
            body = None if head is None else _read(out, _FRAME.unpack(head)[0])
            if body is None:
                raise ReadFailure("the reader process stopped unexpectedly (see the server log)")
            frame = marshal.loads(body)
            kind = frame[0]
            if kind == "chunk":
                yield frame[1:]
            elif kind == "failed":
                raise ReadFailure(frame[1])
            else:
                return  # the piece ended: the other lanes have nothing more
            lane = (lane + 1) % len(self.processes)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _read(out: BinaryIO, size: int) -> bytearray | None:
    """Exactly ``size`` bytes from a pipe, read into one buffer; None if it closes first."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        count = out.readinto(view[done:])  # type: ignore[attr-defined]
        if not count:
            return None
        done += count
    return buffer


PIPE_BYTES = 1024 * 1024


def _widen(pipe: BinaryIO | None) -> None:
    """Give a helper's pipe room for more of a chunk (Linux pipes hold 64 KiB by default):
    fewer reads per chunk, and the helper waits less for the job to take the next."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if pipe is None or set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), set_size, PIPE_BYTES)


def _helper_main() -> None:
    # A batch process holding one chunk at a time: the objects a chunk makes die together,
    # and full collections of the startup heap only cost time.
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    from tidings.wire import shapes
    from tidings.wire.model import load_service_model

    item = load_service_model("pinpoint", "2016-12-01").shape_for("EndpointBatchItem")
    task = marshal.loads(sys.stdin.buffer.read())
    out = sys.stdout.buffer

    def send(frame: tuple) -> None:
        data = marshal.dumps(frame)
        out.write(_FRAME.pack(len(data)))
        out.write(data)

    try:
        for chunk in chunks(task, shapes.checker(item), shapes.tree(item)):
            send(("chunk", *chunk))
        send(("end",))
    except ReadFailure as exc:
        send(("failed", str(exc)))
    except BrokenPipeError:
        return  # the server stopped reading (the job stopped, or the server died)
    out.flush()


if __name__ == "__main__":
    _helper_main()
