"""file:// import sources and export destinations, confined to the operator's --files-root.

A path an API caller gives is first resolved (``os.path.realpath``: links followed, ``.``
and ``..`` gone) and must then lie inside one of the roots; links inside a root that stay
inside it are fine. Resolving and then opening would leave a moment in which a directory
could be swapped for a link, so files are opened by walking from the root's directory one
component at a time with ``O_NOFOLLOW``: a link met on the way fails the open instead of
being followed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tidings.domain.errors import InvalidInput

ROOT_FLAG = "--files-root (TIDINGS_FILES_ROOT)"
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Outside(InvalidInput):
    """A path that is not inside any of the files roots."""


def roots_of(value: str) -> tuple[str, ...]:
    """The --files-root value as resolved directories (several separated by os.pathsep)."""
    roots = []
    for part in value.split(os.pathsep):
        if part.strip():
            root = os.path.realpath(part.strip())
            if not os.path.isdir(root):
                raise ValueError(f"{ROOT_FLAG} names {part!r}, which is not a directory")
            roots.append(root)
    return tuple(roots)


def confine(path: str, roots: tuple[str, ...], member: str) -> tuple[str, str]:
    """(root, resolved path) for a path that lies inside one of ``roots``; raises Outside."""
    if not roots:
        raise Outside(
            f"{member} {path}: file:// locations are refused until the server's operator names the "
            f"directories they may use with {ROOT_FLAG}",
            member=member,
        )
    if ".." in Path(path).parts:
        raise Outside(f"{member} {path}: a file:// path may not contain '..'", member=member)
    real = os.path.realpath(path)
    for root in roots:
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return root, real
    # Where a link outside the roots leads is the host's business, not the caller's.
    raise Outside(
        f"{member} {path} is outside the directories the server may use ({os.pathsep.join(roots)}); "
        f"put the file there, or ask the operator to add its directory to {ROOT_FLAG}",
        member=member,
    )


def _parts(root: str, real: str) -> list[str]:
    return [part for part in os.path.relpath(real, root).split(os.sep) if part not in ("", ".")]


@contextmanager
def _directory(root: str, parts: list[str], *, create: bool) -> Iterator[int]:
    """A descriptor of root/parts, walked without following links (made when ``create``)."""
    fd = os.open(root, _DIRECTORY)
    try:
        for part in parts:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            inner = os.open(part, _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def open_for_reading(root: str, real: str, buffering: int):  # type: ignore[no-untyped-def]
    """A binary file object for a resolved path inside ``root``. Raises OSError (ELOOP,
    ENOTDIR) when a component turned into a link since the path was resolved."""
    *folders, name = _parts(root, real)
    with _directory(root, folders, create=False) as fd:
        file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    return os.fdopen(file_fd, "rb", buffering=buffering)


@contextmanager
def writable_directory(root: str, real: str) -> Iterator[int]:
    """A descriptor of the directory at a resolved path inside ``root``, made if missing."""
    with _directory(root, _parts(root, real), create=True) as fd:
        yield fd


def create_file(directory_fd: int, name: str):  # type: ignore[no-untyped-def]
    """A new binary file in the directory (an existing link of that name is not followed)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(name, flags, 0o644, dir_fd=directory_fd), "wb")


@contextmanager
def fresh_directory(root: str, real: str, name: str) -> Iterator[int]:
    """A descriptor of an empty directory ``name`` in the directory at ``real`` (made if
    missing); what an earlier run left there is removed first, without following links."""
    with writable_directory(root, real) as parent:
        with suppress(FileNotFoundError):
            shutil.rmtree(name, dir_fd=parent)
        os.mkdir(name, dir_fd=parent)
        fd = os.open(name, _DIRECTORY, dir_fd=parent)
    try:
        yield fd
    finally:
        os.close(fd)
