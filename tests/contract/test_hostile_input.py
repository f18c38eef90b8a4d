"""Input crafted to break the server answers 4xx, and the server keeps its memory and time.

Each case here answered 500, grew the server's memory or hung before it was fixed.
"""

from __future__ import annotations

import base64
import json
import socket

import pytest

from tests.signed import Signer
from tests.zips import ROLE, zip_entries, zip_files

# The query as boto3 would encode it (SigV4 signs the encoded form).
KPI = "/v1/apps/{app}/kpis/daterange/successful-delivery-rate?start-time={start}&end-time=2026-01-02T00%3A00%3A00Z"


@pytest.fixture
def signed(server) -> Signer:
    return Signer(server)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def error_of(reply) -> tuple[int, str, str]:
    return reply.status, reply.headers.get("x-amzn-errortype", ""), json.loads(reply.body).get("Message", "")


@pytest.mark.parametrize("start", ["inf", "1e20", "-1e20", "nan"])
def test_kpi_times_beyond_any_date_are_bad_requests(signed, app_id, start):
    status, code, message = error_of(signed.send("pinpoint", "GET", KPI.format(app=app_id, start=start)))
    assert (status, code) == (400, "BadRequestException")
    assert "StartTime" in message and "between the years 1 and 9999" in message


@pytest.mark.parametrize(
    ("document", "member"),
    [
        ('{"Name": "c", "SegmentId": "%(segment)s", "SegmentVersion": 18446744073709551616}', "SegmentVersion"),
        ('{"Name": "c", "SegmentId": "%(segment)s", "Priority": 18446744073709551616}', "Priority"),
        ('{"Name": "c", "SegmentId": "%(segment)s", "Priority": 1e300}', "Priority"),
        ('{"Name": "c", "SegmentId": "%(segment)s", "Limits": {"Daily": 2147483648}}', "Limits.Daily"),
        ('{"Name": "c", "SegmentId": "%(segment)s", "Limits": {"Total": -1e300}}', "Limits.Total"),
        ('{"Name": "c", "SegmentId": "%(segment)s", "Limits": {"MessagesPerSecond": 9223372036854775808}}', "Limits.MessagesPerSecond"),
    ],
)
def test_integers_beyond_their_type_are_bad_requests(signed, pinpoint, app_id, document, member):
    segment = pinpoint.create_segment(
        ApplicationId=app_id, WriteSegmentRequest={"Name": "s", "Dimensions": {}}
    )["SegmentResponse"]["Id"]
    body = document % {"segment": segment}
    reply = signed.send("pinpoint", "POST", f"/v1/apps/{app_id}/campaigns", body.encode(), {"Content-Type": "application/json"})
    status, code, message = error_of(reply)
    assert (status, code) == (400, "BadRequestException")
    assert f"WriteCampaignRequest.{member}" in message
    assert "outside the integer range -2147483648 to 2147483647" in message or "expected an integer" in message


def test_session_duration_beyond_an_integer_is_a_bad_request(signed, app_id):
    event = {
        "EventType": "_session.start",
        "Timestamp": "2026-01-01T00:00:00Z",
        "Session": {"Id": "s1", "StartTimestamp": "2026-01-01T00:00:00Z", "Duration": 18446744073709551616},
    }
    body = json.dumps({"BatchItem": {"e1": {"Endpoint": {}, "Events": {"ev1": event}}}}).encode()
    reply = signed.send("pinpoint", "POST", f"/v1/apps/{app_id}/events", body, {"Content-Type": "application/json"})
    status, code, message = error_of(reply)
    assert (status, code) == (400, "BadRequestException")
    assert "Session.Duration" in message and "integer range" in message


def test_nul_in_an_endpoint_id_is_refused_naming_the_member(signed, pinpoint, app_id):
    reply = signed.send(
        "pinpoint",
        "PUT",
        f"/v1/apps/{app_id}/endpoints/bad%00id",
        b'{"ChannelType": "SMS", "Address": "+15555550100"}',
        {"Content-Type": "application/json"},
    )
    status, code, message = error_of(reply)
    assert (status, code) == (400, "BadRequestException")
    assert "EndpointId" in message and "NUL" in message
    # and in a body string, here an attribute value
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.update_endpoint(
            ApplicationId=app_id, EndpointId="ok", EndpointRequest={"Attributes": {"a": ["x\0y"]}}
        )
    assert "EndpointRequest.Attributes.a[0]" in caught.value.response["Error"]["Message"]


def test_non_ascii_client_context_is_a_bad_request(signed, lambda_client):
    lambda_client.create_function(
        FunctionName="ctx", Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": zip_files({"app.py": "def handler(e, c):\n    return 1\n"})},
    )  # fmt: skip
    reply = signed.send(
        "lambda", "POST", "/2015-03-31/functions/ctx/invocations", b"{}", {"X-Amz-Client-Context": "é" * 8}
    )
    status, code, message = error_of(reply)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "Client context must be a valid Base64-encoded JSON object" in message
    ok = base64.b64encode(b'{"custom": {}}').decode()
    assert signed.send("lambda", "POST", "/2015-03-31/functions/ctx/invocations", b"{}", {"X-Amz-Client-Context": ok}).status == 200


def test_deep_json_is_refused_naming_the_limit(signed, app_id):
    body = b'{"Name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, code, message = error_of(signed.send("pinpoint", "POST", "/v1/apps", body))
    assert (status, code) == (400, "BadRequestException")
    assert "deeper than 1024 levels" in message


def test_bodies_stop_at_the_operation_limit_while_streaming(server, signed):
    """400 MB, chunked (no Content-Length to refuse it up front), to a 7 MB route."""
    pid = server.process.pid
    before = rss_bytes(pid)
    headers = signed.headers("pinpoint", "POST", "/v1/apps")
    head = "POST /v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    chunk = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head.encode() + b"\r\n")
        peak = before
        for _ in range(400):  # the server answers early and discards the rest as it comes
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            peak = max(peak, rss_bytes(pid))
        sock.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PayloadTooLargeException" in answer
    assert b"Request must be smaller than 7340032 bytes for the CreateApp operation" in answer
    print(f"\n400 MB streamed to a 7 MB route: server RSS {before >> 20} MB -> peak {peak >> 20} MB")
    assert peak - before < 40 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MB"


def test_a_declared_length_over_the_limit_is_refused_before_the_body(server, signed):
    headers = signed.headers("lambda", "POST", "/2015-03-31/functions/f/invocations", headers={"X-Amz-Invocation-Type": "Event"})
    head = "POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048577\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n")  # no body at all: the answer comes anyway
        answer = sock.recv(65536)
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):  # head and body may come apart
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"RequestEntityTooLargeException" in answer
    assert b"Request must be smaller than 1048576 bytes for the Invoke operation" in answer


def test_a_link_entry_that_inflates_is_refused_without_reading_it(server, lambda_client):
    # 200 MB of zeros in an entry marked as a symbolic link: a zip of a quarter megabyte.
    archive = zip_entries(("app.py", "def handler(e, c):\n    return 1\n", "file"), ("link", bytes(200 * 1024 * 1024), "link"))
    assert len(archive) < 400_000
    before = rss_bytes(server.process.pid)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.create_function(FunctionName="inflates", Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": archive})
    assert "'link' is a symbolic link whose target is 209715200 bytes" in caught.value.response["Error"]["Message"]
    assert rss_bytes(server.process.pid) - before < 40 * 1024 * 1024
