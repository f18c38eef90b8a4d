"""Import and export jobs: where they read and write, how they answer, how they end.

Tidings reads imports from ``file://`` paths on the server (a file, or a directory whose
files are the job's pieces) and from ``https://`` URLs (a presigned S3 URL works); it writes
exports to ``file://`` directories. Where a path may lie (``tidings.jobs.files``) and which
addresses a URL may reach (``tidings.domain.addresses``) are decided elsewhere. ``s3://`` is refused with a message that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from tidings.domain.addresses import is_loopback_host
from tidings.domain.errors import InvalidInput

MAX_FAILURES = 100  # Failures holds the first 100 row errors, as in Pinpoint
FINISHED = ("COMPLETED", "FAILED")
RESPONSE_KEYS = ("TotalPieces", "CompletedPieces", "FailedPieces", "TotalProcessed", "TotalFailures")


@dataclass(frozen=True)
class Location:
    """Where a job reads or writes: a local path, or an http(s) URL."""

    scheme: str  # "file" or "https" (or "http" to loopback, in development)
    path: str | None = None  # for file://
    url: str | None = None  # for http(s)://

    @property
    def name(self) -> str:
        """The last part of the path, as a default segment name and in piece errors."""
        source = self.path if self.path is not None else urlsplit(self.url or "").path
        return PurePosixPath(source or "/").name


def _s3_refusal(member: str, writing: bool) -> InvalidInput:
    if writing:
        hint = "write to a directory on the Tidings server (file:///exports/) and copy it up with `aws s3 cp --recursive`"
    else:
        hint = (
            "copy the object to the Tidings server (`aws s3 cp s3://bucket/key /data/key`) and pass "
            "file:///data/key, or pass a presigned https:// URL (`aws s3 presign s3://bucket/key`)"
        )
    reads = "writes exports to file:// directories" if writing else "reads file:// and https:// URLs"
    return InvalidInput(f"{member}: Tidings {reads}, not s3://; {hint}", member=member)


def _local_path(url: str, member: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise InvalidInput(
            f"{member} {url!r} is not an absolute file:// URL; write it with three slashes, "
            "as in file:///data/endpoints.json",
            member=member,
        )
    return unquote(parts.path)


def import_source(url: str, member: str, *, allow_http_loopback: bool = False) -> Location:
    """Where an import job reads, from ImportJobRequest.S3Url."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        raise _s3_refusal(member, writing=False)
    if scheme == "file":
        return Location("file", path=_local_path(url, member))
    if scheme == "https":
        return Location("https", url=url)
    if scheme == "http" and allow_http_loopback and is_loopback_host(urlsplit(url).hostname or ""):
        return Location("http", url=url)
    raise InvalidInput(
        f"{member} {url!r}: Tidings reads file:// and https:// URLs (file:///data/endpoints.json, "
        "or a presigned https:// URL)",
        member=member,
    )


def export_target(url: str, member: str) -> Location:
    """Where an export job writes, from ExportJobRequest.S3UrlPrefix: a local directory."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        raise _s3_refusal(member, writing=True)
    if scheme != "file":
        raise InvalidInput(
            f"{member} {url!r}: Tidings writes exports to file:// directories on its server, "
            "as in file:///exports/",
            member=member,
        )
    return Location("file", path=_local_path(url, member))



def piece_label(name: str, pieces: int) -> str:
    """How failures name where a row is: nothing for a one-piece job, else the piece's name."""
    return "" if pieces <= 1 else f"{name} "


def final_status(*, pieces: int, failed_pieces: int, processed: int, failures: int) -> str:
    """FAILED when nothing could be imported: every piece unreadable, or every row refused.
    A job that imported some rows and refused others is COMPLETED with its Failures."""
    if pieces and failed_pieces == pieces:
        return "FAILED"
    if processed and failures >= processed:
        return "FAILED"
    return "COMPLETED"


def job_response(
    *,
    app_id: str,
    job_id: str,
    kind: str,
    status: str,
    created: str,
    completed: str | None,
    definition: dict,
    counts: dict[str, int],
    failures: list[str],
) -> dict:
    """An ImportJobResponse or ExportJobResponse."""
    response = {
        "ApplicationId": app_id,
        "Id": job_id,
        "Type": kind,
        "JobStatus": status,
        "CreationDate": created,
        "Definition": definition,
        **counts,
    }
    if completed:
        response["CompletionDate"] = completed
    if failures:
        response["Failures"] = failures
    return response
