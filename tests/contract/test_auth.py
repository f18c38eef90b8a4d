"""SigV4 on every request, access keys, the first start's root key and the open health route.

Requests are signed by botocore (boto3, the AWS CLI, the presigner); the bad cases are
botocore-signed requests changed by hand afterwards, so each failure is checked against what
the real signer produced, not against Tidings' own signing code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import REGION, Server, free_port, signed_headers
from tests.services import (
    _admin_connect,
    backend_of,
    fresh_postgres_database,
    read_store,
    store_url,
)
from tidings import __version__
from tidings.store import schema

EXPORT_LINE = re.compile(r"export AWS_ACCESS_KEY_ID=(TK[A-Z2-7]{18}) AWS_SECRET_ACCESS_KEY=(\S{40})")


def error_code(caught: pytest.ExceptionInfo) -> str:
    return caught.value.response["Error"]["Code"]


def refused(response: tuple[int, dict[str, str], bytes], code: str) -> str:
    """The message of a 403 ``code`` answer."""
    status, headers, body = response
    assert (status, headers.get("x-amzn-errortype")) == (403, code), body
    return json.loads(body)["Message"]


# --- what must pass ------------------------------------------------------------------------


def test_boto3_and_the_aws_cli_are_let_in(server, pinpoint, lambda_client):
    app = pinpoint.create_app(CreateApplicationRequest={"Name": "signed"})["ApplicationResponse"]["Id"]
    assert "Functions" in lambda_client.list_functions()
    listed = server.aws("pinpoint", "get-apps").json["ApplicationsResponse"]["Item"]
    assert app in [item["Id"] for item in listed]
    assert "Functions" in server.aws("lambda", "list-functions").json


def test_presigned_urls_from_botocore_work_until_they_expire(server, pinpoint, app_id):
    url = pinpoint.generate_presigned_url("get_app", Params={"ApplicationId": app_id}, ExpiresIn=2)
    assert "X-Amz-Signature=" in url and "Authorization" not in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert json.loads(response.read())["Id"] == app_id
    time.sleep(3.1)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "Signature expired" in json.loads(caught.value.read())["Message"]


def test_a_presigned_lambda_request_works(server, lambda_client):
    url = lambda_client.generate_presigned_url("list_functions", Params={}, ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert "Functions" in json.loads(response.read())


def test_health_is_open_and_reports_the_store(server):
    status, _, body = server.raw("GET", "/health", signed=False)
    assert status == 200
    assert json.loads(body) == {"status": "ok", "version": __version__, "store": "ok"}


def test_health_answers_503_when_the_store_is_down(tmp_path):
    with fresh_postgres_database() as url:
        alone = Server(url, tmp_path / "server.log").start()
        try:
            assert alone.raw("GET", "/health", signed=False)[0] == 200
            with _admin_connect() as admin:
                admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            status, _, body = alone.raw("GET", "/health", signed=False)
            assert status == 503
            assert json.loads(body) == {"status": "unavailable", "version": __version__, "store": "unavailable"}
        finally:
            alone.stop()


# --- what must fail, and with which error --------------------------------------------------


def test_an_unsigned_request_is_missing_its_token(server):
    message = refused(server.raw("GET", "/v1/apps", signed=False), "MissingAuthenticationTokenException")
    assert message == "Missing Authentication Token"
    refused(server.raw("GET", "/2015-03-31/functions/", signed=False), "MissingAuthenticationTokenException")


def test_a_malformed_authorization_is_an_incomplete_signature(server):
    status = server.raw("GET", "/v1/apps", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=abc"}, signed=False)
    message = refused(status, "IncompleteSignatureException")
    assert "'Signature'" in message and "'SignedHeaders'" in message and "X-Amz-Date" in message


def test_an_unknown_key_is_unrecognized(server):
    stranger = server.client("pinpoint", credentials=("TKAAAAAAAAAAAAAAAAAA", "x" * 40))
    with pytest.raises(ClientError) as caught:
        stranger.get_apps()
    assert error_code(caught) == "UnrecognizedClientException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_wrong_secret_is_an_invalid_signature(server):
    wrong = server.client("lambda", credentials=(server.credentials[0], server.credentials[1] + "x"))
    with pytest.raises(ClientError) as caught:
        wrong.list_functions()
    assert error_code(caught) == "InvalidSignatureException"
    assert "does not match the signature you provided" in caught.value.response["Error"]["Message"]


def test_one_changed_byte_of_a_signed_body_fails(server):
    body = b'{"Name": "byte"}'
    headers = signed_headers(server, "POST", "/v1/apps", body, {"Content-Type": "application/json"})
    changed = b'{"Name": "bytf"}'
    refused(server.raw("POST", "/v1/apps", changed, headers, signed=False), "InvalidSignatureException")
    # The same with the body's hash declared in x-amz-content-sha256, which is signed too.
    declared = {"Content-Type": "application/json", "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    headers = signed_headers(server, "POST", "/v1/apps", body, declared)
    message = refused(server.raw("POST", "/v1/apps", changed, headers, signed=False), "InvalidSignatureException")
    assert "x-amz-content-sha256" in message
    status, _, _ = server.raw("POST", "/v1/apps", body, headers, signed=False)
    assert status == 201


def test_a_changed_signed_header_fails(server):
    body = b'{"Name": "header"}'
    headers = signed_headers(server, "POST", "/v1/apps", body, {"Content-Type": "application/json", "X-Extra": "a"})
    assert "x-extra" in headers["Authorization"]
    headers["X-Extra"] = "b"
    refused(server.raw("POST", "/v1/apps", body, headers, signed=False), "InvalidSignatureException")


def test_a_date_16_minutes_old_has_expired(server):
    past = datetime.now(UTC) - timedelta(minutes=16)
    client = server.client("pinpoint")
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=past.replace(tzinfo=None)),
        pytest.raises(ClientError) as caught,
    ):
        client.get_apps()
    assert error_code(caught) == "InvalidSignatureException"
    assert caught.value.response["Error"]["Message"].startswith("Signature expired:")


@pytest.mark.parametrize(
    ("service", "region", "fragment"),
    [("lambda", REGION, "correct service: 'mobiletargeting'"), ("mobiletargeting", "eu-west-1", "'eu-west-1'")],
    ids=["service", "region"],
)
def test_a_scope_of_another_service_or_region_fails(server, service, region, fragment):
    request = AWSRequest(method="GET", url=server.url + "/v1/apps")
    SigV4Auth(Credentials(*server.credentials), service, region).add_auth(request)
    message = refused(server.raw("GET", "/v1/apps", None, dict(request.headers.items()), signed=False), "InvalidSignatureException")
    assert fragment in message


# --- keys ----------------------------------------------------------------------------------


def wait_for_code(call, wanted: str, timeout: float = 6.0) -> float:
    """Seconds until ``call()`` fails with ``wanted`` (the server's key ring catches up)."""
    started = time.monotonic()
    while True:
        try:
            call()
            code = "(none)"
        except ClientError as error:
            code = error.response["Error"]["Code"]
        if code == wanted:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"still {code} after {timeout}s, wanted {wanted}"
        time.sleep(0.2)


def test_keys_take_effect_and_stop_without_a_restart(server, database_url):
    name = f"backend-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    made = server.keys("create", name, "--json")
    assert made.returncode == 0, made.stderr
    pair = json.loads(made.stdout)
    assert set(pair) == {"AccessKeyId", "SecretAccessKey"} and len(pair["SecretAccessKey"]) == 40
    assert re.fullmatch(r"TK[A-Z2-7]{18}", pair["AccessKeyId"])
    assert "may do nothing" in made.stderr  # no policy
    client = server.client("pinpoint", credentials=(pair["AccessKeyId"], pair["SecretAccessKey"]))
    # Signed with a key the server knows now: authenticated, and refused by its (empty) policy.
    assert wait_for_code(client.get_apps, "AccessDeniedException") < 5

    listed = server.keys("list", "--json")
    assert listed.returncode == 0 and pair["SecretAccessKey"] not in listed.stdout
    [entry] = [key for key in json.loads(listed.stdout) if key["Name"] == name]
    assert (entry["AccessKeyId"], entry["Root"], entry["Policy"]) == (pair["AccessKeyId"], False, None)
    again = server.keys("create", name)
    assert again.returncode == 1 and "exists" in again.stderr

    # The secret is sealed at rest, bound to its key id.
    stored = read_store(
        database_url,
        lambda conn: conn.execute(
            schema.access_keys.select().where(schema.access_keys.c.name == name)
        ).one()._mapping,
    )
    assert pair["SecretAccessKey"] not in stored["secret"] and stored["secret"].startswith("v1:")

    deleted = server.keys("delete", name)
    assert deleted.returncode == 0, deleted.stderr
    assert wait_for_code(client.get_apps, "UnrecognizedClientException") < 5
    assert server.keys("delete", name).returncode == 1


def test_a_policy_must_be_an_identity_policy(server, tmp_path):
    (tmp_path / "bad.json").write_text('{"Version": "2012-10-17"}')
    refused_policy = server.keys("create", "bad-policy", "--policy", str(tmp_path / "bad.json"))
    assert refused_policy.returncode == 1 and "Statement" in refused_policy.stderr
    (tmp_path / "notjson.json").write_text("{")
    assert server.keys("create", "bad-json", "--policy", str(tmp_path / "notjson.json")).returncode == 1
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "mobiletargeting:GetApps", "Resource": "*"}]}
    (tmp_path / "good.json").write_text(json.dumps(policy))
    made = server.keys("create", f"scoped-{time.monotonic_ns() % 10**6}", "--policy", str(tmp_path / "good.json"))
    assert made.returncode == 0 and EXPORT_LINE.fullmatch(made.stdout.strip()) and made.stderr == ""


# --- the first start -----------------------------------------------------------------------


def test_a_first_start_on_loopback_makes_a_root_key_and_prints_it(database_url, tmp_path):
    with store_url(backend_of(database_url), tmp_path) as url:
        first = Server(url, tmp_path / "server.log", TIDINGS_ACCESS_KEY_ID="", TIDINGS_SECRET_ACCESS_KEY="").start()
        try:
            found = None
            deadline = time.monotonic() + 10
            while found is None and time.monotonic() < deadline:
                found = EXPORT_LINE.search(first.log_path.read_text())
                time.sleep(0.1)
            assert found, first.log_path.read_text()
            printed = found.group(0)
            client = first.client("pinpoint", credentials=(found.group(1), found.group(2)))
            assert "Item" in client.get_apps()["ApplicationsResponse"]

            # `tidings keys root` prints the same lines again, and they work as printed.
            env = {
                **first.client_env,
                "TIDINGS_DATABASE_URL": first.database_url,  # key administration opens the store
                "TIDINGS_DATA_DIR": first.env["TIDINGS_DATA_DIR"],
                "TIDINGS_ACCESS_KEY_ID": "",
                "TIDINGS_SECRET_ACCESS_KEY": "",
            }
            root = subprocess.run(
                [sys.executable, "-m", "tidings", "keys", "root"], env=env, capture_output=True, text=True, timeout=60
            )
            assert root.returncode == 0 and root.stdout.strip() == printed, root.stderr
            aws = f"{os.path.dirname(sys.executable)}/aws"
            script = f'unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; eval "$({sys.executable} -m tidings keys root)"; ' \
                     f"{aws} --endpoint-url {first.url} pinpoint get-apps"  # fmt: skip
            done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and "ApplicationsResponse" in done.stdout, done.stderr
        finally:
            first.stop()
        # A second start keeps the stored key and prints nothing new.
        second = Server(url, tmp_path / "second.log", TIDINGS_ACCESS_KEY_ID="", TIDINGS_SECRET_ACCESS_KEY="").start()
        try:
            client = second.client("pinpoint", credentials=(found.group(1), found.group(2)))
            assert "Item" in client.get_apps()["ApplicationsResponse"]
            assert "AWS_SECRET_ACCESS_KEY" not in second.log_path.read_text()
        finally:
            second.stop()


def test_a_non_loopback_address_without_a_key_refuses_to_start(database_url, tmp_path):
    with store_url(backend_of(database_url), tmp_path) as url:
        env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": url,
            "TIDINGS_DATA_DIR": str(tmp_path / "data"),
            "TIDINGS_ACCESS_KEY_ID": "",
            "TIDINGS_SECRET_ACCESS_KEY": "",
        }
        port = free_port()
        done = subprocess.run(
            [sys.executable, "-m", "tidings", "serve", "--host", "0.0.0.0", "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 1
        assert "refusing to listen on 0.0.0.0 without an access key" in done.stderr
        assert "TIDINGS_ACCESS_KEY_ID" in done.stderr
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_an_unsigned_body_is_refused_before_it_is_read(server):
    """Without a key the server takes in no body: the 403 comes while the body is still owed
    (a caller cannot make it hold 70 MB per connection)."""
    head = (
        "POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 62914560\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"{" * 1024)  # 1 KB of the 60 MB it announced
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"MissingAuthenticationTokenException" in answer
