"""Kill `tidings serve` with SIGKILL in the middle of an import, start it again, and check
the job resumes from its checkpoint: every row imported once, failures counted once, the
segment complete, and no reader process left behind."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from tests.conftest import Server
from tests.jobs import import_job, minimal_rows, wait_for_job, write_lines
from tests.processes import children, wait_until_gone
from tests.services import read_store, store_url
from tidings.store import schema

ROWS = 150_000  # about 10 MB: large enough for the reader process and several chunks
BAD_LINES = (7, 90_001)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    with store_url(request.param, tmp_path) as url:
        yield url


def test_sigkill_mid_import_resumes_from_the_checkpoint(database_url, tmp_path):
    rows: list = minimal_rows(ROWS)
    for line in BAD_LINES:
        rows[line - 1] = {"ChannelType": "SMS"}  # refused: no Address
    path = write_lines(tmp_path / "big.json", rows)
    server = Server(database_url, tmp_path / "server.log").start()
    try:
        pinpoint = server.client("pinpoint")
        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "resume"})["ApplicationResponse"]["Id"]
        job = import_job(pinpoint, app_id, path, DefineSegment=True, SegmentName="big")
        deadline = time.monotonic() + 60
        while True:
            seen = pinpoint.get_import_job(ApplicationId=app_id, JobId=job["Id"])["ImportJobResponse"]
            if seen["TotalProcessed"] > 0:
                break
            assert time.monotonic() < deadline, "the import did not get going"
            time.sleep(0.01)
        readers = children(server.process.pid)
        server.process.kill()  # SIGKILL: no shutdown code runs
        server.process.wait()
    except BaseException:
        server.stop()
        raise

    cursor, processed = _checkpoint(database_url, job["Id"])
    assert 0 < processed < ROWS, "the kill should land mid-import"
    assert cursor["offset"] > 0 and cursor["line"] == processed
    # A reader process stops when the server it writes to is gone.
    wait_until_gone(readers, "reader processes")

    server.start()
    try:
        pinpoint = server.client("pinpoint")
        done = wait_for_job(pinpoint, app_id, job["Id"], timeout=180)
        segment = pinpoint.get_segment(ApplicationId=app_id, SegmentId=done["Definition"]["SegmentId"])
    finally:
        server.stop()

    assert done["JobStatus"] == "COMPLETED"
    assert done["TotalProcessed"] == ROWS and done["TotalFailures"] == len(BAD_LINES)
    assert [f.split(":")[0] for f in done["Failures"]] == [f"line {n}" for n in BAD_LINES]
    assert segment["SegmentResponse"]["ImportDefinition"]["Size"] == ROWS - len(BAD_LINES)
    assert _endpoints(database_url) == ROWS - len(BAD_LINES)


def _checkpoint(url: str, job_id: str) -> tuple[dict, int]:
    row = read_store(url, lambda conn: conn.execute(select(schema.jobs).where(schema.jobs.c.id == job_id)).one())
    return row.cursor, row.total_processed


def _endpoints(url: str) -> int:
    return read_store(url, lambda conn: conn.execute(select(func.count()).select_from(schema.endpoints)).scalar_one())
