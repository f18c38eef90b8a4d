"""Import and export jobs: CreateImportJob, CreateExportJob and the operations that read them.

Creating a job stores it as CREATED and wakes the job service, which runs it in the
background (``tidings.jobs``); GetImportJob / GetExportJob show its progress.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Row

from tidings import outbound
from tidings.domain import arns
from tidings.domain import jobs as job_rules
from tidings.domain.common import new_id, now_iso
from tidings.domain.errors import InvalidInput
from tidings.domain.paging import page_size
from tidings.jobs import files
from tidings.store import apps, jobs, segments
from tidings.wire.app import Call


def _response(row: Row) -> dict:
    return job_rules.job_response(
        app_id=row.app_id,
        job_id=row.id,
        kind=row.type,
        status=row.status,
        created=row.creation_date,
        completed=row.completion_date,
        definition=row.definition,
        counts={
            "TotalPieces": row.total_pieces,
            "CompletedPieces": row.completed_pieces,
            "FailedPieces": row.failed_pieces,
            "TotalProcessed": row.total_processed,
            "TotalFailures": row.total_failures,
        },
        failures=row.failures,
    )


def _wake(call: Call) -> None:
    service = getattr(call.state, "jobs", None)
    if service is not None:
        service.wake()


# --- imports --------------------------------------------------------------------------


def create_import_job(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    request = dict(params["ImportJobRequest"])
    root = "ImportJobRequest"
    settings = call.state.settings
    member = f"{root}.S3Url"
    if request["S3Url"].lower().startswith(("https://", "http://")):
        # Before the scheme rules, so that a refused address is named even over plain http.
        outbound.check_url(request["S3Url"], member, allow_loopback=settings.allow_http_loopback)
    location = job_rules.import_source(request["S3Url"], member, allow_http_loopback=settings.allow_http_loopback)
    if location.bucket is not None:
        # Read with the server's own AWS credentials: which buckets a key may import from is
        # its policy's say.
        call.require(arns.READ_S3, arns.s3_arn(location.bucket, location.prefix))
    if location.path is not None:
        _, real = files.confine(location.path or "", settings.files_roots, member)
        # Files under --files-root are the server's, shared by every app: reading them is a
        # permission of its own, which a key's policy may grant for some paths only.
        call.require(arns.READ_FILES, arns.files_arn(settings.region, settings.account_id, real))
        if not Path(real).exists():
            raise InvalidInput(
                f"{member}: {location.path} does not exist on the Tidings server; the file (or "
                "directory) must be readable by the server process",
                member=member,
            )
    job_id, now = new_id(), now_iso()
    segment_id = request.get("SegmentId")
    refresh = bool(segment_id)
    if request.get("DefineSegment") and not segment_id:
        segment_id = new_id()
        # Pinpoint's console names an imported segment after its file.
        request.setdefault("SegmentName", Path(location.name).stem or segment_id)
    if segment_id:
        request["SegmentId"] = segment_id

    def work(conn):
        apps.get(conn, app_id, lock=True)
        if refresh:
            doc = segments.get(conn, app_id, segment_id)
            if doc.get("SegmentType") != "IMPORT":
                raise InvalidInput(
                    f"{root}.SegmentId: segment {segment_id!r} is a {doc.get('SegmentType')} segment; an "
                    "import job can refresh only an imported segment (leave SegmentId out and set "
                    "DefineSegment to create one)",
                    member=f"{root}.SegmentId",
                )
            busy = jobs.active_for_segment(conn, app_id, segment_id)
            if busy:
                raise InvalidInput(
                    f"{root}.SegmentId: import job {busy!r} is still refreshing segment {segment_id!r}; "
                    "start this one when GetImportJob shows that job COMPLETED or FAILED",
                    member=f"{root}.SegmentId",
                )
        jobs.create(conn, app_id, job_id, "IMPORT", now, request, segment_id, cursor={"refresh": refresh})
        return jobs.get(conn, app_id, job_id, "IMPORT")

    row = call.state.db.transact(work)
    _wake(call)
    return {"ImportJobResponse": _response(row)}


def get_import_job(call: Call, params: dict) -> dict:
    return {"ImportJobResponse": _get(call, params, "IMPORT")}


def get_import_jobs(call: Call, params: dict) -> dict:
    return {"ImportJobsResponse": _page(call, params, "IMPORT")}


def get_segment_import_jobs(call: Call, params: dict) -> dict:
    return {"ImportJobsResponse": _page(call, params, "IMPORT", params["SegmentId"])}


# --- exports --------------------------------------------------------------------------


def create_export_job(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    request = params["ExportJobRequest"]
    member = "ExportJobRequest.S3UrlPrefix"
    target = job_rules.export_target(request["S3UrlPrefix"], member)
    settings = call.state.settings
    _, real = files.confine(target.path or "", settings.files_roots, member)
    call.require(arns.WRITE_FILES, arns.files_arn(settings.region, settings.account_id, real))
    job_id, now = new_id(), now_iso()
    segment_id = request.get("SegmentId")
    if "SegmentVersion" in request and not segment_id:
        raise InvalidInput(
            "ExportJobRequest.SegmentVersion needs ExportJobRequest.SegmentId",
            member="ExportJobRequest.SegmentVersion",
        )

    def work(conn):
        apps.get(conn, app_id)
        if segment_id:
            segments.get(conn, app_id, segment_id, request.get("SegmentVersion"))
        jobs.create(conn, app_id, job_id, "EXPORT", now, request, segment_id)
        return jobs.get(conn, app_id, job_id, "EXPORT")

    row = call.state.db.transact(work)
    _wake(call)
    return {"ExportJobResponse": _response(row)}


def get_export_job(call: Call, params: dict) -> dict:
    return {"ExportJobResponse": _get(call, params, "EXPORT")}


def get_export_jobs(call: Call, params: dict) -> dict:
    return {"ExportJobsResponse": _page(call, params, "EXPORT")}


def get_segment_export_jobs(call: Call, params: dict) -> dict:
    return {"ExportJobsResponse": _page(call, params, "EXPORT", params["SegmentId"])}


# --- shared ---------------------------------------------------------------------------


def _get(call: Call, params: dict, kind: str) -> dict:
    app_id = params["ApplicationId"]
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        return _response(jobs.get(conn, app_id, params["JobId"], kind))


def _page(call: Call, params: dict, kind: str, segment_id: str | None = None) -> dict:
    app_id = params["ApplicationId"]
    size = page_size(params.get("PageSize"))
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        if segment_id is not None and not segments.exists(conn, app_id, segment_id):
            segments.get(conn, app_id, segment_id)  # raises NotFound naming the segment
        rows, token = jobs.page(conn, app_id, kind, size, params.get("Token"), segment_id)
    answer: dict = {"Item": [_response(row) for row in rows]}
    if token:
        answer["NextToken"] = token
    return answer
