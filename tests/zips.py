"""Building function packages for tests."""

from __future__ import annotations

import io
import stat
import warnings
import zipfile

ROLE = "arn:aws:iam::000000000000:role/tidings-test"


def zip_files(files: dict[str, str | bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def zip_entries(*entries: tuple[str, bytes | str, str]) -> bytes:
    """A zip of ``(name, content, kind)`` in this order; kind is "file" or "link"."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        for name, content, kind in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = stat.S_IFLNK | 0o777 if kind == "link" else stat.S_IFREG | 0o644
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def with_bad_crc(archive: bytes) -> bytes:
    """The archive with one byte of its first entry's data flipped (its CRC then fails)."""
    info = zipfile.ZipFile(io.BytesIO(archive)).infolist()[0]
    data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    corrupt = bytearray(archive)
    corrupt[data_start + 2] ^= 0xFF
    return bytes(corrupt)
