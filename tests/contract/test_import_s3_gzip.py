"""Imports a Pinpoint user brings along: the gzipped JSON lines Pinpoint's export jobs wrote,
from a local file or from an S3 prefix (moto's S3 server stands in for S3, reached through
the AWS SDK's standard AWS_ENDPOINT_URL_S3, as an operator would configure it)."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.conftest import BACKENDS, REGION, Server, free_port
from tests.jobs import ROLE, endpoint, minimal_rows, wait_for_job
from tests.services import fresh_postgres_database

BUCKET = "pinpoint-exports"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "s3-test", "AWS_SECRET_ACCESS_KEY": "s3-test", "AWS_DEFAULT_REGION": REGION}


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture(scope="module")
def s3(s3_url):
    client = boto3.client(
        "s3", endpoint_url=s3_url, region_name=REGION,
        aws_access_key_id="s3-test", aws_secret_access_key="s3-test",
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module", params=BACKENDS)
def s3_server(request, s3_url, tmp_path_factory) -> Iterator[Server]:
    """A Tidings server whose AWS SDK finds S3 at moto, by the standard variable only."""
    log = tmp_path_factory.mktemp("s3-log") / "server.log"
    env = {**S3_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}
    if request.param == "sqlite":
        srv = Server(f"sqlite:///{log.parent / 'tidings.db'}", log, **env).start()
        yield srv
        srv.stop()
        return
    with fresh_postgres_database() as url:
        srv = Server(url, log, **env).start()
        yield srv
        srv.stop()


@pytest.fixture
def pinpoint(s3_server):
    return s3_server.client("pinpoint")


def exported_line(app_id: str, item: dict) -> str:
    """An endpoint as Pinpoint's export jobs wrote it: the GetEndpoint answer, one per line."""
    return json.dumps({
        "ApplicationId": app_id, "CohortId": "42", "CreationDate": "2025-03-01T10:00:00.000Z",
        "EffectiveDate": "2025-03-01T10:00:00.000Z", "EndpointStatus": "ACTIVE", "OptOut": "NONE",
        "RequestId": "f0e1d2c3-export", **item,
    })  # fmt: skip


def gzipped_lines(lines: list[str]) -> bytes:
    return gzip.compress("".join(line + "\n" for line in lines).encode())


def s3_import(pinpoint, app_id: str, url: str, **members) -> dict:
    request = {"Format": "JSON", "S3Url": url, "RoleArn": ROLE, **members}
    job = pinpoint.create_import_job(ApplicationId=app_id, ImportJobRequest=request)["ImportJobResponse"]
    return wait_for_job(pinpoint, app_id, job["Id"])


def test_a_gzipped_pinpoint_export_in_s3_imports_with_every_object_under_the_prefix(pinpoint, s3, app_id):
    prefix = f"{app_id}/pinpoint/exports/"
    people = [
        {"Id": f"p{i}", "ChannelType": "SMS", "Address": f"+1555010{i:04d}",
         "User": {"UserId": f"u{i}", "UserAttributes": {"name": [f"N{i}"]}}, "Attributes": {"plan": ["pro"]}}
        for i in range(30)
    ]  # fmt: skip
    old_app = "0123456789abcdef0123456789abcdef"
    s3.put_object(Bucket=BUCKET, Key=prefix, Body=b"")  # the folder marker the S3 console makes
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}job1/part-a.gz", Body=gzipped_lines([exported_line(old_app, p) for p in people[:10]]))
    # gzip is recognised by its first bytes, not the name; a multi-member gzip reads through.
    two_members = gzipped_lines([exported_line(old_app, p) for p in people[10:15]]) + gzipped_lines(
        [exported_line(old_app, p) for p in people[15:20]]
    )
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}job1/part-b", Body=two_members)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}job1/plain.json", Body="".join(exported_line(old_app, p) + "\n" for p in people[20:]).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{app_id}/pinpoint/elsewhere.gz", Body=gzipped_lines([exported_line(old_app, {"Id": "not-mine"})]))

    job = s3_import(pinpoint, app_id, f"s3://{BUCKET}/{prefix}", DefineSegment=True, SegmentName="from pinpoint")

    assert job["JobStatus"] == "COMPLETED", job
    assert (job["TotalPieces"], job["CompletedPieces"], job["FailedPieces"]) == (3, 3, 0)
    assert (job["TotalProcessed"], job["TotalFailures"]) == (30, 0)
    ana = endpoint(pinpoint, app_id, "p17")
    assert ana["Address"] == "+15550100017" and ana["User"]["UserAttributes"]["name"] == ["N17"]
    assert ana["ApplicationId"] == app_id  # the old project's id in the file is not kept
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="not-mine")
    segment = pinpoint.get_segment(ApplicationId=app_id, SegmentId=job["Definition"]["SegmentId"])["SegmentResponse"]
    assert segment["ImportDefinition"]["Size"] == 30 and segment["Name"] == "from pinpoint"


def test_a_large_s3_object_is_read_by_the_reader_process(pinpoint, s3, app_id):
    rows = minimal_rows(70_000, "big")  # over 4 MB: read by `python -m tidings.jobs.reader`
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    assert len(body) > 4 * 1024 * 1024
    s3.put_object(Bucket=BUCKET, Key=f"{app_id}/big.json", Body=body)
    job = s3_import(pinpoint, app_id, f"s3://{BUCKET}/{app_id}/big.json")
    assert job["JobStatus"] == "COMPLETED" and job["TotalProcessed"] == 70_000, job
    assert endpoint(pinpoint, app_id, "big0069999")["Address"] == "addr-big0069999"


def test_s3_sources_that_cannot_be_read_fail_the_job_naming_the_bucket(pinpoint, s3, app_id):
    missing = s3_import(pinpoint, app_id, "s3://no-such-bucket-here/exports/")
    assert missing["JobStatus"] == "FAILED"
    assert "s3://no-such-bucket-here/exports/" in missing["Failures"][0] and "NoSuchBucket" in missing["Failures"][0]
    empty = s3_import(pinpoint, app_id, f"s3://{BUCKET}/nothing-here/")
    assert empty["JobStatus"] == "FAILED" and "holds no objects" in empty["Failures"][0]
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.create_import_job(
            ApplicationId=app_id, ImportJobRequest={"Format": "JSON", "S3Url": "s3:///key.json", "RoleArn": ROLE}
        )
    assert "s3://bucket-name/prefix/" in caught.value.response["Error"]["Message"]


def test_a_gzipped_local_file_imports(pinpoint, app_id, tmp_path):
    path = tmp_path / "export.json.gz"
    path.write_bytes(gzipped_lines([exported_line(app_id, r) for r in minimal_rows(12, "gz")]))
    job = s3_import(pinpoint, app_id, path.as_uri())
    assert job["JobStatus"] == "COMPLETED" and job["TotalProcessed"] == 12, job
    assert endpoint(pinpoint, app_id, "gz0000011")["Address"] == "addr-gz0000011"


def test_a_large_gzipped_file_is_read_by_the_reader_process(pinpoint, app_id, tmp_path):
    from tidings.jobs.reader import wants_helper

    path = tmp_path / "large.json.gz"
    path.write_bytes(gzipped_lines([json.dumps(r) for r in minimal_rows(100_000, "lgz")]))
    assert wants_helper({"path": str(path)}, 0)  # the precondition: this is the helper's path
    job = s3_import(pinpoint, app_id, path.as_uri())
    assert job["JobStatus"] == "COMPLETED" and job["TotalProcessed"] == 100_000, job
    assert endpoint(pinpoint, app_id, "lgz0099999")["Address"] == "addr-lgz0099999"


def test_a_gzip_bomb_fails_its_piece_at_the_bound(pinpoint, app_id, tmp_path):
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b"\n" * (64 * 1024 * 1024), compresslevel=9))
    assert bomb.stat().st_size * 100 + 1024 * 1024 < 64 * 1024 * 1024  # past the documented bound
    job = s3_import(pinpoint, app_id, bomb.as_uri())
    assert job["JobStatus"] == "FAILED", job
    assert "100 times its compressed size" in job["Failures"][0]


def test_a_truncated_gzip_file_fails_its_piece_with_the_reason(pinpoint, app_id, tmp_path):
    path = tmp_path / "cut.json.gz"
    whole = gzipped_lines([json.dumps(r) for r in minimal_rows(2000, "cut")])
    path.write_bytes(whole[: len(whole) // 2])
    job = s3_import(pinpoint, app_id, path.as_uri())
    assert job["FailedPieces"] == 1 and "not a readable gzip file" in job["Failures"][-1], job


def test_a_resumed_piece_reads_on_from_its_offset(s3, s3_url, monkeypatch, tmp_path):
    """Where a job resumes: the bytes after the checkpoint's offset, counted in decompressed
    bytes for gzip (checked against the plain bytes, sliced by hand)."""
    from tidings.jobs.sources import open_piece

    for name, value in {**S3_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}.items():
        monkeypatch.setenv(name, value)
    plain = "".join(json.dumps(r) + "\n" for r in minimal_rows(500, "off")).encode()
    offset = plain.index(b"off0000321")
    packed = gzip.compress(plain)
    (tmp_path / "plain.json").write_bytes(plain)
    (tmp_path / "packed.gz").write_bytes(packed)
    s3.put_object(Bucket=BUCKET, Key="resume/plain.json", Body=plain)
    s3.put_object(Bucket=BUCKET, Key="resume/packed.gz", Body=packed)
    pieces = [
        {"path": str(tmp_path / "plain.json")},
        {"path": str(tmp_path / "packed.gz")},
        {"bucket": BUCKET, "key": "resume/plain.json", "size": len(plain)},
        {"bucket": BUCKET, "key": "resume/packed.gz", "size": len(packed)},
    ]
    for piece in pieces:
        with open_piece(piece, offset, roots=(os.path.realpath(tmp_path),), allow_loopback=False) as stream:
            assert stream.read() == plain[offset:], piece
        with open_piece(piece, len(plain), roots=(os.path.realpath(tmp_path),), allow_loopback=False) as stream:
            assert stream.read() == b"", piece
