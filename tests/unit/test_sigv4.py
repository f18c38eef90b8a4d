"""SigV4 verification against AWS's published Signature Version 4 test-suite vectors (the
expected signatures are the suite's; credentials AKIDEXAMPLE, service "service", us-east-1,
20150830T123600Z) and against requests signed by botocore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tidings.auth import sigv4
from tidings.domain.errors import Forbidden

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
UNRESERVED = b"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# (case, raw path, raw query, extra headers, expected signature) from the published suite.
VECTORS = [
    ("get-vanilla", b"/", b"", [], "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    (
        "get-vanilla-query-order-key-case", b"/", b"Param2=value2&Param1=value1", [],
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    (
        "get-vanilla-query-order-encoded", b"/", b"Param-3=Value3&Param=Value2&%E1%88%B4=Value1", [],
        "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
    ),
    (
        "get-vanilla-query-unreserved", b"/", UNRESERVED + b"=" + UNRESERVED, [],
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    ),
    ("get-vanilla-utf8-query", b"/", b"%E1%88%B4=bar", [], "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-unreserved", b"/" + UNRESERVED, b"", [], "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-utf8", "/ሴ".encode(), b"", [], "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-space", b"/example space/", b"", [], "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
    (
        "get-header-key-duplicate", b"/", b"",
        [("my-header1", "value2"), ("my-header1", "value2"), ("my-header1", "value1")],
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    ),
]  # fmt: skip


def vector_request(path: bytes, query: bytes, extra: list[tuple[str, str]], signature: str) -> sigv4.Request:
    headers = [("host", "example.amazonaws.com"), *extra, ("x-amz-date", "20150830T123600Z")]
    signed = ";".join(sorted({name for name, _ in headers}))
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return sigv4.Request("GET", path, query, [*headers, ("authorization", authorization)], b"")


@pytest.mark.parametrize(("case", "path", "query", "extra", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_the_published_vectors_verify(case, path, query, extra, expected):
    request = vector_request(path, query, extra, expected)
    claim = sigv4.parse(request)
    sigv4.verify(request, claim, SECRET, region="us-east-1", service="service", now=WHEN)


@pytest.mark.parametrize(("case", "path", "query", "extra", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_a_vector_with_one_signature_digit_changed_fails(case, path, query, extra, expected):
    wrong = ("0" if expected[0] != "0" else "1") + expected[1:]
    request = vector_request(path, query, extra, wrong)
    with pytest.raises(Forbidden) as caught:
        sigv4.verify(request, sigv4.parse(request), SECRET, region="us-east-1", service="service", now=WHEN)
    assert caught.value.code == "InvalidSignatureException"


def botocore_signed(presign: bool = False, expires: int = 60) -> tuple[AWSRequest, datetime]:
    """A Lambda-style request (an ARN in the path, a query) signed by botocore itself."""
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:8765/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Af/invocations"
        "?Qualifier=%24LATEST&b=a%20b",
        data=b'{"x": 1}',
        headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
    )
    credentials = Credentials("TKEXAMPLE", "s3cr3t")
    signer = SigV4QueryAuth(credentials, "lambda", "us-east-1", expires) if presign else SigV4Auth(credentials, "lambda", "us-east-1")
    signer.add_auth(request)
    return request, datetime.strptime(request.context["timestamp"], sigv4.AMZ_DATE).replace(tzinfo=UTC)


def as_received(request: AWSRequest) -> sigv4.Request:
    path, _, query = request.url.split("8765", 1)[1].partition("?")
    headers = [(name.lower(), value) for name, value in request.headers.items()]
    headers.append(("host", "127.0.0.1:8765"))
    body = request.body or b""
    return sigv4.Request(request.method, path.encode(), query.encode(), headers, body)


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_botocore_signatures_verify_and_tampering_fails(presign):
    signed, at = botocore_signed(presign)
    received = as_received(signed)
    claim = sigv4.parse(received)
    assert (claim.access_key_id, claim.service, claim.expires) == ("TKEXAMPLE", "lambda", 60 if presign else None)
    sigv4.verify(received, claim, "s3cr3t", region="us-east-1", service="lambda", now=at + timedelta(seconds=5))

    tampered = [
        sigv4.Request(received.method, received.raw_path.replace(b"function%3Af", b"function%3Ag"),
                      received.raw_query, received.headers, received.body),
        sigv4.Request(received.method, received.raw_path, received.raw_query.replace(b"a%20b", b"a%20c"),
                      received.headers, received.body),
        sigv4.Request(received.method, received.raw_path, received.raw_query,
                      [(n, "RequestResponse" if n == "x-amz-invocation-type" else v) for n, v in received.headers],
                      received.body),
    ]  # fmt: skip
    if not presign:  # the body of a presigned request is not signed
        tampered.append(sigv4.Request(received.method, received.raw_path, received.raw_query, received.headers, b'{"x": 2}'))
    for request in tampered:
        with pytest.raises(Forbidden) as caught:
            sigv4.verify(request, sigv4.parse(request), "s3cr3t", region="us-east-1", service="lambda", now=at)
        assert caught.value.code == "InvalidSignatureException"


def test_dates_outside_the_window_fail():
    signed, at = botocore_signed()
    received = as_received(signed)
    claim = sigv4.parse(received)
    for now in (at + timedelta(minutes=16), at - timedelta(minutes=16)):
        with pytest.raises(Forbidden, match="Signature (expired|not yet current)"):
            sigv4.verify(received, claim, "s3cr3t", region="us-east-1", service="lambda", now=now)
    presigned, at = botocore_signed(presign=True, expires=60)
    received = as_received(presigned)
    with pytest.raises(Forbidden, match="Signature expired"):
        sigv4.verify(received, sigv4.parse(received), "s3cr3t", region="us-east-1", service="lambda",
                     now=at + timedelta(seconds=61))  # fmt: skip
