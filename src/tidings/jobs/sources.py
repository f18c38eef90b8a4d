"""Reading an import's pieces: local files (one, or every file under a directory), http(s)
URLs and S3 objects (every object under an s3:// prefix), from a byte offset, one line at a
time, never the whole file. Gzipped files and objects (Pinpoint's export jobs wrote them) are
decompressed as they are read.

Local files must lie inside the operator's --files-root (``tidings.jobs.files``); URLs are
fetched only from addresses the rules allow, without following redirects
(``tidings.outbound``)."""

from __future__ import annotations

import gzip
import io
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO

from tidings.domain.jobs import Location
from tidings.jobs.files import Outside, confine, open_for_reading

LINE_LIMIT = 1024 * 1024  # a line longer than this is refused, not read into memory
READ_BUFFER = 1024 * 1024
HTTP_TIMEOUT_S = 60.0


class SourceError(Exception):
    """A piece that cannot be read; the message says what to fix."""


def pieces(location: Location, roots: tuple[str, ...]) -> list[dict]:
    """The pieces of an import: the file, every regular file under the directory (sorted by
    path, hidden files left out), the URL, or every object under an s3:// prefix. Each file is
    confined again when opened."""
    if location.scheme == "s3":
        return _s3_pieces(location)
    if location.path is None:
        return [{"name": location.name or "import", "url": location.url}]
    try:
        _, real = confine(location.path, roots, "S3Url")
    except Outside as exc:
        raise SourceError(exc.message) from None
    root = Path(real)
    if root.is_file():
        return [{"name": root.name, "path": str(root)}]
    if root.is_dir():
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(folder) / name
                if not name.startswith(".") and path.is_file():
                    found.append({"name": str(path.relative_to(root)), "path": str(path)})
        if not found:
            raise SourceError(f"directory {location.path} holds no files to import")
        return found
    if not root.exists():
        raise SourceError(
            f"{location.path} does not exist on the Tidings server; the file must be readable by "
            "the server process (copy it there, or pass an https:// URL)"
        )
    raise SourceError(f"{location.path} is neither a file nor a directory")


@contextmanager
def open_piece(
    piece: dict, offset: int, *, roots: tuple[str, ...], allow_loopback: bool
) -> Iterator[BinaryIO]:
    """The piece's bytes from ``offset`` on (decompressed bytes for a gzipped piece).
    ``roots`` and ``allow_loopback`` are the server's --files-root and --allow-http-loopback."""
    if "key" in piece:
        with _open_s3_object(piece, offset) as stream:
            yield stream
        return
    if "path" in piece:
        try:
            root, real = confine(piece["path"], roots, "S3Url")
            stream = open_for_reading(root, real, READ_BUFFER)
        except Outside as exc:
            raise SourceError(exc.message) from None
        except OSError as exc:
            raise SourceError(f"{piece['path']} cannot be read: {exc.strerror or exc}") from None
        with stream:
            if stream.peek(2)[:2] == GZIP_MAGIC:
                yield _gunzipped(stream, os.fstat(stream.fileno()).st_size, offset, piece["path"])
                return
            stream.seek(offset)
            yield stream
        return
    with _open_url(piece["url"], offset, allow_loopback) as stream:
        yield stream


@contextmanager
def _open_url(url: str, offset: int, allow_loopback: bool) -> Iterator[BinaryIO]:
    from tidings import outbound  # imported here: it loads aiohttp, which reader processes need not

    headers = {"Range": f"bytes={offset}-"} if offset else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        response = outbound.opener(allow_loopback=allow_loopback).open(request, timeout=HTTP_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # asked past the end: nothing is left to read
            yield io.BytesIO()
            return
        hint = "; redirects are not followed: pass the final URL" if 300 <= exc.code < 400 else ""
        raise SourceError(f"{_shown(url)} answered HTTP {exc.code} {exc.reason}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"{_shown(url)} cannot be fetched: {reason}") from None
    with response:
        stream = io.BufferedReader(response, READ_BUFFER)  # type: ignore[arg-type]
        if offset and response.status != 206:
            # The server ignored the Range header: skip what earlier chunks imported.
            _skip(stream, offset)
        yield stream


def _shown(url: str) -> str:
    """A URL for messages, without its query (a presigned URL's query is a credential)."""
    return url.split("?", 1)[0]


def _skip(stream: BinaryIO, count: int) -> None:
    """Read past ``count`` bytes of a stream that cannot seek (or fewer, if it ends first)."""
    while count:
        skipped = len(stream.read(min(count, READ_BUFFER)))
        if not skipped:
            return
        count -= skipped


def skip_rest(stream: BinaryIO) -> int:
    """Skip the rest of an over-long line; the number of bytes skipped."""
    skipped = 0
    while True:
        rest = stream.readline(LINE_LIMIT)
        skipped += len(rest)
        if not rest or rest.endswith(b"\n"):
            return skipped


# --- gzip ------------------------------------------------------------------------------

GZIP_MAGIC = b"\x1f\x8b"
# A gzip bomb expands a small file into terabytes; the line reader would stream through all
# of it. Endpoint JSON and CSV compress about 5-20:1, so a piece may expand to at most
# 100 times its compressed size plus 1 MiB; past that the piece fails.
MAX_GZIP_RATIO = 100
GZIP_ALLOWANCE = 1024 * 1024


def gunzipped_limit(compressed_size: int) -> int:
    return compressed_size * MAX_GZIP_RATIO + GZIP_ALLOWANCE


class _BoundedGunzip(io.RawIOBase):
    """The decompressed bytes of a gzip stream (several members included), refusing to
    produce more than ``limit`` of them."""

    def __init__(self, compressed: BinaryIO, limit: int, name: str) -> None:
        self.inner = gzip.GzipFile(fileobj=compressed, mode="rb")
        self.limit = limit
        self.produced = 0
        self.name_shown = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            count = self.inner.readinto(buffer)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise SourceError(f"{self.name_shown} is not a readable gzip file: {exc}") from None
        self.produced += count
        if self.produced > self.limit:
            raise SourceError(
                f"{self.name_shown} expands to more than {MAX_GZIP_RATIO} times its compressed "
                f"size ({self.limit:,} bytes); Tidings stops there to stop a gzip bomb: "
                "decompress it yourself and import the plain file"
            )
        return count


def _gunzipped(compressed: BinaryIO, compressed_size: int, offset: int, name: str) -> BinaryIO:
    """A line-readable stream of the decompressed bytes from ``offset`` on. Offsets count
    decompressed bytes, so a resumed piece decompresses again from the start and skips."""
    stream = io.BufferedReader(_BoundedGunzip(compressed, gunzipped_limit(compressed_size), name), READ_BUFFER)
    _skip(stream, offset)
    return stream


# --- s3:// ---------------------------------------------------------------------------------


@cache
def _s3_client():
    """The process's S3 client (thread-safe), from the AWS SDK's standard chain: credentials
    (environment, profile, instance role), region, and AWS_ENDPOINT_URL_S3 when the operator
    points it elsewhere."""
    import boto3  # imported here: only s3:// imports need it, and it takes a while to load

    return boto3.session.Session().client("s3")


def _s3_error(exc: Exception, where: str) -> SourceError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return SourceError(
            f"{where}: the Tidings server has no AWS credentials; give its process the standard "
            "ones (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            return SourceError(
                f"{where}: the bucket does not exist (S3 answered NoSuchBucket); check the bucket "
                "name in S3Url, and AWS_ENDPOINT_URL_S3 if the server uses an S3-compatible store"
            )
        if code in ("AccessDenied", "403", "Forbidden"):
            return SourceError(
                f"{where}: S3 denied access ({code}); the server's AWS credentials need "
                "s3:ListBucket on the bucket and s3:GetObject on its objects"
            )
        return SourceError(f"{where}: S3 answered {code or 'an error'}: {exc}")
    return SourceError(f"{where} cannot be read: {exc}")


def _s3_pieces(location: Location) -> list[dict]:
    """Every object under the prefix, in key order, as Pinpoint read an S3 folder; keys that
    end in / (folder markers the S3 console makes) are left out."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = location.bucket, location.prefix
    where = f"s3://{bucket}/{prefix}"
    found = []
    try:
        client = _s3_client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith("/"):
                    name = key[len(prefix):].lstrip("/") if prefix.endswith("/") else key
                    found.append({"name": name or key, "bucket": bucket, "key": key, "size": item["Size"]})
    except (BotoCoreError, ClientError) as exc:
        raise _s3_error(exc, where) from None
    if not found:
        raise SourceError(f"{where} holds no objects to import; check the prefix (keys are case-sensitive)")
    return found


@contextmanager
def _open_s3_object(piece: dict, offset: int) -> Iterator[BinaryIO]:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"s3://{piece['bucket']}/{piece['key']}"

    def get(**extra):
        try:
            return _s3_client().get_object(Bucket=piece["bucket"], Key=piece["key"], **extra)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return None  # asked past the end: nothing is left to read
            raise _s3_error(exc, where) from None
        except BotoCoreError as exc:
            raise _s3_error(exc, where) from None

    gzipped = _s3_is_gzip(get)
    body = get() if gzipped or not offset else get(Range=f"bytes={offset}-")
    if body is None:
        yield io.BytesIO()
        return
    with body:
        raw = io.BufferedReader(body, READ_BUFFER)  # type: ignore[arg-type]
        try:
            yield _gunzipped(raw, piece["size"], offset, where) if gzipped else raw
        except BotoCoreError as exc:  # the connection broke or timed out mid-object
            raise SourceError(f"{where}: reading stopped: {exc}") from None


def _s3_is_gzip(get) -> bool:
    """Whether the object starts with gzip's magic number: its first two bytes."""
    head = get(Range="bytes=0-1")
    if head is None:
        return False
    with head:
        return head.read() == GZIP_MAGIC
