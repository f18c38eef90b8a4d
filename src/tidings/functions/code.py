"""Function code packages: checking uploaded zip archives and unpacking them safely.

An archive is refused, with nothing written, when it is not a zip, when it is larger than
Lambda's limits (50 MB zipped, 250 MB unzipped), or when an entry would land outside the
code directory (absolute paths, ``..``, symbolic links that point outside).
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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tidings.domain.errors import InvalidInput, TooLarge

MAX_ZIPPED_BYTES = 50 * 1024 * 1024  # 52428800
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024  # 262144000


@dataclass(frozen=True)
class Package:
    zip_bytes: bytes
    sha256: str  # base64 of the SHA-256 digest, as Lambda reports CodeSha256
    size: int
    unzipped_size: int


def check_archive(zip_bytes: bytes) -> Package:
    if len(zip_bytes) > MAX_ZIPPED_BYTES:
        raise TooLarge(
            f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes (this archive has {len(zip_bytes)})",
            code="RequestEntityTooLargeException",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise InvalidInput(
            "Could not unzip uploaded file. Please check your file, then try to upload again.",
            member="ZipFile",
        ) from None
    total = 0
    for info in infos:
        _check_entry(archive, info)
        total += info.file_size
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidInput(
            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes (this archive unpacks to {total})",
            member="ZipFile",
        )
    digest = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    return Package(zip_bytes, digest, len(zip_bytes), total)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _check_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        raise InvalidInput(
            f"The archive entry {info.filename!r} would be written outside the code directory; "
            "entries must be relative paths without '..'",
            member="ZipFile",
        )
    if _is_symlink(info):
        target = archive.read(info).decode("utf-8", "replace")
        resolved = PurePosixPath(os.path.normpath(str(path.parent / target)))
        if target.startswith("/") or resolved.parts[:1] == ("..",) or str(resolved).startswith(".."):
            raise InvalidInput(
                f"The archive entry {info.filename!r} is a symbolic link to {target!r}, outside the "
                "code directory; links must stay inside the package",
                member="ZipFile",
            )


def zip_directory(directory: Path) -> bytes:
    """A deployment package of every file below ``directory`` (paths relative to it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def unpack(package_zip: bytes, target: Path) -> Path:
    """Unpack into ``target`` (atomically: a reader never sees a half-written directory)."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        archive = zipfile.ZipFile(io.BytesIO(package_zip))
        for info in archive.infolist():
            _check_entry(archive, info)
            destination = staging / info.filename
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            if _is_symlink(info):
                os.symlink(archive.read(info).decode(), destination)
                continue
            with archive.open(info) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(destination, mode | 0o444 if mode else 0o644)
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
