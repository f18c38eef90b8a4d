"""Import and export jobs: where they read and write, how they answer, how they end.

Tidings reads imports from ``file://`` paths on the server (a file, or a directory whose
files are the job's pieces), from ``https://`` URLs (a presigned S3 URL works) and from
``s3://bucket/prefix`` (every object under the prefix is a piece, read with the AWS SDK); it
writes exports to ``file://`` directories. Where a path may lie (``tidings.jobs.files``) and
which addresses a URL may reach (``tidings.domain.addresses``) are decided elsewhere. An
``s3://`` export target is refused with a message that says so.
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
    """Where a job reads or writes: a local path, an http(s) URL, or an S3 bucket and prefix."""

    scheme: str  # "file", "https" or "s3" (or "http" to loopback, in development)
    path: str | None = None  # for file://
    url: str | None = None  # for http(s)://
    bucket: str | None = None  # for s3://
    prefix: str = ""  # for s3://: every object whose key starts with it

    @property
    def name(self) -> str:
        """The last part of the path, as a default segment name and in piece errors."""
        if self.bucket is not None:
            return PurePosixPath(self.prefix or self.bucket).name
        source = self.path if self.path is not None else urlsplit(self.url or "").path
        return PurePosixPath(source or "/").name


def _s3_export_refusal(member: str) -> InvalidInput:
    return InvalidInput(
        f"{member}: Tidings writes exports to file:// directories, not s3://; write to a directory "
        "on the Tidings server (file:///exports/) and copy it up with `aws s3 cp --recursive`",
        member=member,
    )


def _s3_location(url: str, member: str) -> Location:
    """s3://bucket/prefix names a bucket, not a host: the SDK's endpoint (AWS, or what the
    operator set in AWS_ENDPOINT_URL_S3) is the only place the server connects to."""
    parts = urlsplit(url)
    if not parts.netloc or parts.query or parts.fragment:
        raise InvalidInput(
            f"{member} {url!r} is not an S3 location; write it as s3://bucket-name/prefix/ "
            "(every object whose key starts with the prefix is imported)",
            member=member,
        )
    return Location("s3", bucket=parts.netloc, prefix=unquote(parts.path.lstrip("/")))


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
        return _s3_location(url, member)
    if scheme == "file":
        return Location("file", path=_local_path(url, member))
    if scheme == "https":
        return Location("https", url=url)
    if scheme == "http" and allow_http_loopback and is_loopback_host(urlsplit(url).hostname or ""):
        return Location("http", url=url)
    raise InvalidInput(
        f"{member} {url!r}: Tidings reads file://, https:// and s3:// URLs "
        "(file:///data/endpoints.json, s3://bucket/prefix/, or a presigned https:// URL)",
        member=member,
    )


def export_target(url: str, member: str) -> Location:
    """Where an export job writes, from ExportJobRequest.S3UrlPrefix: a local directory."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        raise _s3_export_refusal(member)
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
