"""Export jobs through boto3 against a live server: files written under a file:// directory."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.campaigns import add_endpoints
from tests.jobs import ROLE, wait_for_job
from tests.pages import all_pages


def export(pinpoint, app_id: str, prefix: str, **members) -> dict:
    request = {"S3UrlPrefix": prefix, "RoleArn": ROLE, **members}
    return pinpoint.create_export_job(ApplicationId=app_id, ExportJobRequest=request)["ExportJobResponse"]


def exported(folder) -> list[dict]:
    return [json.loads(line) for part in sorted(folder.iterdir()) for line in part.read_text().splitlines()]


def test_export_writes_every_endpoint_of_the_app_as_json_lines(pinpoint, app_id, tmp_path):
    ids = add_endpoints(pinpoint, app_id, 130, extra=lambda i: {"Attributes": {"n": [i]}})
    job = export(pinpoint, app_id, (tmp_path / "out").as_uri() + "/")
    assert job["JobStatus"] == "CREATED" and job["Type"] == "EXPORT"

    done = wait_for_job(pinpoint, app_id, job["Id"], "export")
    assert done["JobStatus"] == "COMPLETED" and done["TotalProcessed"] == 130
    assert (done["TotalPieces"], done["CompletedPieces"], done["FailedPieces"]) == (1, 1, 0)
    lines = exported(tmp_path / "out" / job["Id"])
    assert [e["Id"] for e in lines] == ids
    first = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=ids[0])["EndpointResponse"]
    assert lines[0] == first  # each line is the endpoint as GetEndpoint answers it


def test_export_of_a_segment_writes_only_its_endpoints(pinpoint, app_id, tmp_path):
    add_endpoints(pinpoint, app_id, 10, prefix="sms", channel="SMS")
    mail = add_endpoints(pinpoint, app_id, 4, prefix="mail", channel="EMAIL")
    segment_id = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "mail", "Dimensions": {"Demographic": {"Channel": {"Values": ["EMAIL"]}}}},
    )["SegmentResponse"]["Id"]
    job = export(pinpoint, app_id, (tmp_path / "seg").as_uri(), SegmentId=segment_id, SegmentVersion=1)
    done = wait_for_job(pinpoint, app_id, job["Id"], "export")

    assert done["TotalProcessed"] == 4 and done["Definition"]["SegmentId"] == segment_id
    assert [e["Id"] for e in exported(tmp_path / "seg" / job["Id"])] == mail
    listed = pinpoint.get_segment_export_jobs(ApplicationId=app_id, SegmentId=segment_id)["ExportJobsResponse"]
    assert [j["Id"] for j in listed["Item"]] == [job["Id"]]


def test_export_jobs_page_and_refuse_what_tidings_cannot_write(pinpoint, app_id, tmp_path):
    created = [export(pinpoint, app_id, (tmp_path / f"o{i}").as_uri())["Id"] for i in range(3)]
    for job_id in created:
        assert wait_for_job(pinpoint, app_id, job_id, "export")["JobStatus"] == "COMPLETED"
    items, pages = all_pages(pinpoint.get_export_jobs, "ExportJobsResponse", 2, ApplicationId=app_id)
    assert pages == 2 and [j["Id"] for j in items] == created[::-1]

    for prefix, words in (
        ("s3://bucket/exports/", ("S3UrlPrefix", "s3://", "file://")),
        ("https://example.com/exports/", ("file://",)),
        ("file://relative/dir", ("file:///",)),
    ):
        with pytest.raises(ClientError) as caught:
            export(pinpoint, app_id, prefix)
        error = caught.value.response["Error"]
        assert error["Code"] == "BadRequestException"
        assert all(w in error["Message"] for w in words), error["Message"]
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        export(pinpoint, app_id, tmp_path.as_uri(), SegmentId="no-such-segment")


def test_export_to_a_directory_that_cannot_be_written_fails(pinpoint, app_id, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    add_endpoints(pinpoint, app_id, 1)
    job = export(pinpoint, app_id, (blocker / "sub").as_uri())
    done = wait_for_job(pinpoint, app_id, job["Id"], "export")
    assert done["JobStatus"] == "FAILED" and "cannot be written" in done["Failures"][0]
