"""Function code packages: checking uploaded zip archives and unpacking them safely.

An archive is refused at upload, with nothing written, when it is not a zip, when it is
larger than Lambda's limits (50 MB zipped, 250 MB unzipped), when an entry's data is
corrupt (bad CRC, encrypted, unknown compression), or when unpacking it could write or
point outside the code directory: absolute paths, ``..``, two entries with one name, an
entry below a symbolic link or a file, a link whose target (followed through the package's
other links) leaves the package, a link target that is empty, longer than a path can be,
not UTF-8 or has a NUL. Links that stay inside (``node_modules/.bin`` style) are kept, as
Lambda keeps them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tidings.domain.errors import InvalidInput, TooLarge

MAX_ZIPPED_BYTES = 50 * 1024 * 1024  # 52428800
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024  # 262144000
MAX_LINK_TARGET_BYTES = 4095  # Linux's PATH_MAX less the NUL: no longer target can exist
MAX_LINK_HOPS = 40  # Linux's limit on links followed while resolving one path
_CHUNK = 1024 * 1024

Parts = tuple[str, ...]


@dataclass(frozen=True)
class Package:
    zip_bytes: bytes
    sha256: str  # base64 of the SHA-256 digest, as Lambda reports CodeSha256
    size: int
    unzipped_size: int


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    parts: Parts  # the path inside the code directory, normalised
    kind: str  # "dir", "file" or "link"
    target: str | None = None  # a link's target


def _unzip_failure() -> InvalidInput:
    return InvalidInput(
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
        member="ZipFile",
    )


def _refuse(info: zipfile.ZipInfo, why: str) -> InvalidInput:
    return InvalidInput(f"The archive entry {info.filename!r} {why}", member="ZipFile")


def check_archive(zip_bytes: bytes) -> Package:
    if len(zip_bytes) > MAX_ZIPPED_BYTES:
        raise TooLarge(
            f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes (this archive has {len(zip_bytes)})",
            code="RequestEntityTooLargeException",
        )
    archive = _open(zip_bytes)
    entries = _plan(archive)
    for entry in entries:  # every byte is decompressed once, so a bad CRC is found now
        with _reading(entry.info):
            if entry.kind == "file":
                with archive.open(entry.info) as source:
                    while source.read(_CHUNK):
                        pass
    total = sum(entry.info.file_size for entry in entries)
    digest = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    return Package(zip_bytes, digest, len(zip_bytes), total)


def _open(zip_bytes: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(zip_bytes))
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError):
        raise _unzip_failure() from None


@contextmanager
def _reading(info: zipfile.ZipInfo) -> Iterator[None]:
    """Turns the ways zipfile fails on one entry's data into a refusal naming the entry
    (RuntimeError: an encrypted entry)."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        raise _refuse(info, f"cannot be read ({error}); the archive is corrupt or encrypted") from None


def _plan(archive: zipfile.ZipFile) -> list[_Entry]:
    """Every entry, checked against the others, before anything is read or written."""
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)  # declared sizes: checked before reading
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidInput(
            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes (this archive unpacks to {total})",
            member="ZipFile",
        )
    kinds: dict[Parts, str] = {}  # every path the archive creates, parents included
    entries: list[_Entry] = []
    for info in infos:
        parts = _inside_path(info)
        if not parts:
            continue  # "./": the code directory itself
        kind = "link" if stat.S_ISLNK(info.external_attr >> 16) else "dir" if info.is_dir() else "file"
        for depth in range(1, len(parts)):
            parent = kinds.setdefault(parts[:depth], "dir")
            if parent != "dir":
                raise _refuse(info, f"lies below {'/'.join(parts[:depth])!r}, which is a {_word(parent)}")
        existing = kinds.get(parts)
        if existing is not None and not (existing == kind == "dir"):
            raise _refuse(info, "names a path that another entry of the archive already names")
        kinds[parts] = kind
        target = _link_target(archive, info) if kind == "link" else None
        entries.append(_Entry(info, parts, kind, target))
    links = {entry.parts: entry.target for entry in entries if entry.kind == "link"}
    for entry in entries:
        if entry.kind == "link":
            _check_link(entry, links)
    return entries


def _word(kind: str) -> str:
    return "symbolic link" if kind == "link" else kind


def _inside_path(info: zipfile.ZipInfo) -> Parts:
    name = info.filename.replace("\\", "/")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise _refuse(
            info,
            "would be written outside the code directory; entries must be relative paths without '..'",
        )
    return parts


def _link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    # The declared size is checked before reading: a link entry is read whole into memory.
    if info.file_size > MAX_LINK_TARGET_BYTES:
        raise _refuse(
            info,
            f"is a symbolic link whose target is {info.file_size} bytes; a target has at most {MAX_LINK_TARGET_BYTES}",
        )
    with _reading(info):
        raw = archive.read(info)
    try:
        target = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(info, "is a symbolic link whose target is not UTF-8 text") from None
    if not target or "\x00" in target:
        raise _refuse(info, "is a symbolic link with an empty target or a NUL byte in its target")
    return target


def _check_link(entry: _Entry, links: dict[Parts, str | None]) -> None:
    outside = InvalidInput(
        f"The archive entry {entry.info.filename!r} is a symbolic link to {entry.target!r}, outside the "
        "code directory; links must stay inside the package",
        member="ZipFile",
    )
    if entry.target.startswith("/"):
        raise outside
    hops = [0]
    if _resolve(entry.parts[:-1], entry.target, links, hops) is None:
        raise outside


def _resolve(directory: Parts, target: str, links: dict[Parts, str | None], hops: list[int]) -> Parts | None:
    """Where ``target``, read in ``directory``, leads once the package's links are followed
    as the kernel would follow them; None when it leaves the package."""
    path = list(directory)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not path:
                return None
            path.pop()
            continue
        path.append(part)
        through = links.get(tuple(path))
        if through is not None:
            hops[0] += 1
            if hops[0] > MAX_LINK_HOPS:
                return None  # a loop: it resolves nowhere, and is refused with the others
            resolved = _resolve(tuple(path[:-1]), through, links, hops)
            if resolved is None:
                return None
            path = list(resolved)
    return tuple(path)


def zip_directory(directory: Path) -> bytes:
    """A deployment package of every file below ``directory`` (paths relative to it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def unpack(package_zip: bytes, target: Path) -> Path:
    """Unpack into ``target`` (atomically: a reader never sees a half-written directory).

    The archive is checked again (it may predate today's checks); directories and files
    are written first, each file created anew, and links last, so nothing is ever written
    through a link."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        archive = _open(package_zip)
        entries = _plan(archive)
        for entry in entries:
            destination = staging.joinpath(*entry.parts)
            if entry.kind == "dir":
                destination.mkdir(parents=True, exist_ok=True)
            elif entry.kind == "file":
                destination.parent.mkdir(parents=True, exist_ok=True)
                with _reading(entry.info), archive.open(entry.info) as source, open(destination, "xb") as sink:
                    shutil.copyfileobj(source, sink)
                mode = (entry.info.external_attr >> 16) & 0o777
                os.chmod(destination, mode | 0o444 if mode else 0o644)
        for entry in _links(entries):
            destination = staging.joinpath(*entry.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(entry.target, destination)
        for entry in _links(entries):  # what the kernel resolves, not what _plan predicted
            if not Path(os.path.realpath(staging.joinpath(*entry.parts))).is_relative_to(staging.resolve()):
                raise _refuse(entry.info, "is a symbolic link that resolves outside the code directory")
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process unpacked it first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _links(entries: list[_Entry]) -> Iterator[_Entry]:
    return (entry for entry in entries if entry.kind == "link")
