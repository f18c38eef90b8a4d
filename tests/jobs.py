"""Helpers for tests of import and export jobs: files to import, waiting for jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

ROLE = "arn:aws:iam::000000000000:role/import"
FINISHED = ("COMPLETED", "FAILED")


def write_lines(path: Path, items: list) -> Path:
    """A newline-delimited JSON file, one item per line (strings are written as they are)."""
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items))
    return path


def minimal_rows(count: int, prefix: str = "e", start: int = 0) -> list[dict]:
    return [
        {"Id": f"{prefix}{i:07d}", "ChannelType": "CUSTOM", "Address": f"addr-{prefix}{i:07d}"}
        for i in range(start, start + count)
    ]


def import_job(pinpoint, app_id: str, path: Path, fmt: str = "JSON", **members) -> dict:
    request = {"Format": fmt, "S3Url": path.as_uri(), "RoleArn": ROLE, **members}
    return pinpoint.create_import_job(ApplicationId=app_id, ImportJobRequest=request)["ImportJobResponse"]


def wait_for_job(pinpoint, app_id: str, job_id: str, kind: str = "import", timeout: float = 60) -> dict:
    """Poll GetImportJob (or GetExportJob) until the job is COMPLETED or FAILED."""
    get = pinpoint.get_import_job if kind == "import" else pinpoint.get_export_job
    key = "ImportJobResponse" if kind == "import" else "ExportJobResponse"
    deadline = time.monotonic() + timeout
    while True:
        job = get(ApplicationId=app_id, JobId=job_id)[key]
        if job["JobStatus"] in FINISHED:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"{kind} job {job_id} still {job['JobStatus']} after {timeout}s: {job}")
        time.sleep(0.05)


def imported(pinpoint, app_id: str, path: Path, fmt: str = "JSON", **members) -> dict:
    """Run an import job to its end; returns the finished job."""
    job = import_job(pinpoint, app_id, path, fmt, **members)
    return wait_for_job(pinpoint, app_id, job["Id"])


def endpoint(pinpoint, app_id: str, endpoint_id: str) -> dict:
    return pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=endpoint_id)["EndpointResponse"]
