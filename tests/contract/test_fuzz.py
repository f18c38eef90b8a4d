"""Fuzzing both APIs, signed, against a live server: no 5xx, no crash, memory bounded.

Every implemented operation of Pinpoint and Lambda gets requests generated from its
botocore input shape and then broken (tests/fuzzing.py). The CI run sends
``TIDINGS_FUZZ_REQUESTS`` (default 2500) per backend; ``make fuzz`` sends many more.
``TIDINGS_FUZZ_SEED`` replays a run.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import os
import time

import pytest

from tests.contract.test_hostile_input import rss_bytes
from tests.fuzzing import Generator
from tests.signed import Signer
from tests.zips import ROLE, zip_files
from tidings.api.lambda_api import HANDLERS as LAMBDA_HANDLERS
from tidings.api.pinpoint import HANDLERS as PINPOINT_HANDLERS

REQUESTS = int(os.environ.get("TIDINGS_FUZZ_REQUESTS", "2500"))
SEED = int(os.environ.get("TIDINGS_FUZZ_SEED", "20261204"))
MAX_RSS_GROWTH = 200 * 1024 * 1024


def known_ids(pinpoint, lambda_client) -> dict[str, list[str]]:
    """Real resources, so that generated requests reach the handlers behind the lookups."""
    app = pinpoint.create_app(CreateApplicationRequest={"Name": "fuzz"})["ApplicationResponse"]["Id"]
    segment = pinpoint.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": "s", "Dimensions": {}})
    segment_id = segment["SegmentResponse"]["Id"]
    pinpoint.update_endpoint(ApplicationId=app, EndpointId="fuzz-endpoint", EndpointRequest={"ChannelType": "SMS", "Address": "+15555550100", "User": {"UserId": "fuzz-user"}})  # fmt: skip
    name = "fuzz-function"
    with contextlib.suppress(lambda_client.exceptions.ResourceConflictException):
        lambda_client.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": zip_files({"app.py": "def handler(event, context):\n    return event\n"})},
        )  # fmt: skip
    campaign = pinpoint.create_campaign(
        ApplicationId=app,
        WriteCampaignRequest={"Name": "c", "SegmentId": segment_id, "Schedule": {"StartTime": "2030-01-01T00:00:00Z", "Frequency": "ONCE"}},  # fmt: skip
    )["CampaignResponse"]["Id"]
    arn = f"arn:aws:mobiletargeting:us-east-1:000000000000:apps/{app}"
    return {
        "ApplicationId": [app],
        "SegmentId": [segment_id],
        "CampaignId": [campaign],
        "EndpointId": ["fuzz-endpoint"],
        "UserId": ["fuzz-user"],
        "FunctionName": [name],
        "ResourceArn": [arn],
        "Version": ["1"],
    }


def operations(server) -> list[tuple[str, object]]:
    chosen = []
    for service, handlers in (("pinpoint", PINPOINT_HANDLERS), ("lambda", LAMBDA_HANDLERS)):
        model = server.client(service).meta.service_model
        chosen += [(service, model.operation_model(name)) for name in sorted(handlers)]
    return chosen


def test_fuzzed_requests_never_get_a_5xx(server, pinpoint, lambda_client):
    signer = Signer(server)
    ops = operations(server)
    generator = Generator(SEED, known_ids(pinpoint, lambda_client), zip_files({"app.py": "def handler(e, c):\n    return 1\n"}))
    pid = server.process.pid
    rss_before = rss_bytes(pid)
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    started = time.monotonic()
    for i in range(REQUESTS):
        service, operation = ops[i % len(ops)]
        request = generator.request(service, operation)
        headers = signer.headers(service, request.method, request.path, request.body, request.headers)
        try:
            connection.putrequest(request.method, request.path, skip_accept_encoding=True)
            for key, value in headers.items():
                connection.putheader(key, value.encode("utf-8"))
            connection.putheader("Content-Length", str(len(request.body)))
            connection.endheaders(request.body)
            response = connection.getresponse()
            data = response.read()
            status = response.status
        except (http.client.HTTPException, OSError) as exc:
            connection.close()
            assert server.process.poll() is None, f"the server died on: {request.describe()}"
            status, data = 0, repr(exc).encode()
        statuses[status] += 1
        if operation.name.startswith("Delete") and status < 300:
            generator.ids = known_ids(pinpoint, lambda_client)  # it may have removed one
        if status >= 500 or status == 0:
            failures.append(f"{status} {data[:300]!r} <- {request.describe()}")
        if response.getheader("connection", "").lower() == "close":
            connection.close()
    elapsed = time.monotonic() - started
    connection.close()
    growth = rss_bytes(pid) - rss_before
    print(
        f"\nfuzz: seed {SEED}, {REQUESTS} requests over {len(ops)} operations in {elapsed:.1f}s; "
        f"statuses {dict(sorted(statuses.items()))}; RSS growth {growth >> 20} MB"
    )
    assert server.process.poll() is None
    assert pinpoint.get_apps()["ApplicationsResponse"] is not None
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])
    assert growth < MAX_RSS_GROWTH


@pytest.mark.fuzz
@pytest.mark.timeout(7200)
def test_a_long_fuzz_run(server, pinpoint, lambda_client, monkeypatch):
    """``make fuzz``: the same with TIDINGS_FUZZ_REQUESTS requests and several seeds."""
    first = SEED + 1
    for offset in range(int(os.environ.get("TIDINGS_FUZZ_SEEDS", "3"))):
        monkeypatch.setattr("tests.contract.test_fuzz.SEED", first + offset)
        test_fuzzed_requests_never_get_a_5xx(server, pinpoint, lambda_client)
