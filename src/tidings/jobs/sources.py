"""Reading an import's pieces: local files (one, or every file under a directory) and
http(s) URLs, from a byte offset, one line at a time, never the whole file.

Local files must lie inside the operator's --files-root (``tidings.jobs.files``); URLs are
fetched only from addresses the rules allow, without following redirects
(``tidings.outbound``)."""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tidings import outbound
from tidings.domain.jobs import Location
from tidings.jobs.files import Outside, confine, open_for_reading

LINE_LIMIT = 1024 * 1024  # a line longer than this is refused, not read into memory
READ_BUFFER = 1024 * 1024
HTTP_TIMEOUT_S = 60.0


class SourceError(Exception):
    """A piece that cannot be read; the message says what to fix."""


def pieces(location: Location, roots: tuple[str, ...]) -> list[dict]:
    """The pieces of an import: the file, every regular file under the directory (sorted by
    path, hidden files left out), or the URL. Each file is confined again when opened."""
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
    """The piece's bytes from ``offset`` on. ``roots`` and ``allow_loopback`` are the
    server's --files-root and --allow-http-loopback."""
    if "path" in piece:
        try:
            root, real = confine(piece["path"], roots, "S3Url")
            stream = open_for_reading(root, real, READ_BUFFER)
        except Outside as exc:
            raise SourceError(exc.message) from None
        except OSError as exc:
            raise SourceError(f"{piece['path']} cannot be read: {exc.strerror or exc}") from None
        with stream:
            stream.seek(offset)
            yield stream
        return
    with _open_url(piece["url"], offset, allow_loopback) as stream:
        yield stream


@contextmanager
def _open_url(url: str, offset: int, allow_loopback: bool) -> Iterator[BinaryIO]:
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
            left = offset
            while left:
                skipped = len(stream.read(min(left, READ_BUFFER)))
                if not skipped:
                    break
                left -= skipped
        yield stream


def _shown(url: str) -> str:
    """A URL for messages, without its query (a presigned URL's query is a credential)."""
    return url.split("?", 1)[0]


def skip_rest(stream: BinaryIO) -> int:
    """Skip the rest of an over-long line; the number of bytes skipped."""
    skipped = 0
    while True:
        rest = stream.readline(LINE_LIMIT)
        skipped += len(rest)
        if not rest or rest.endswith(b"\n"):
            return skipped
