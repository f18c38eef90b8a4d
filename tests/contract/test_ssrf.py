"""No server-side request forgery, and file:// confined to --files-root, through boto3
against live servers started as in production: without --allow-http-loopback.

Every URL below points at a loopback listener that records connections, spelled in one of
the ways a caller could hide it; the API must answer 400 naming the rule, and the listener
must see nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.campaigns import activities, add_endpoints, everyone_segment, wait_for_status
from tests.conftest import Server
from tests.jobs import ROLE, import_job, minimal_rows, wait_for_job, write_lines
from tests.listeners import ConnectionRecorder
from tests.services import backend_of, store_url

# Spellings of 127.0.0.1 (and ::1) a URL may use: each must be caught.
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "127.0.0.2",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
]
OTHER_RULES = {
    "169.254.169.254": "link-local (169.254.0.0/16)",
    "10.0.0.8": "private (10.0.0.0/8)",
    "192.168.1.1": "private (192.168.0.0/16)",
    "100.64.0.1": "shared address space (100.64.0.0/10)",
    "0.0.0.0": "unspecified (0.0.0.0/8)",
    "[fd00::1]": "unique-local (fc00::/7)",
    "[fe80::1]": "link-local (fe80::/10)",
    "224.0.0.1": "multicast (224.0.0.0/4)",
}
START = "2030-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def guarded(database_url, tmp_path_factory) -> Iterator[Server]:
    """A server as in production: loopback refused, no --files-root. With a store of its own:
    servers sharing a store share its jobs and campaign runs, which would then run under
    another server's rules."""
    folder = tmp_path_factory.mktemp("guarded")
    with store_url(backend_of(database_url), folder) as url:
        srv = Server(url, folder / "server.log", TIDINGS_ALLOW_HTTP_LOOPBACK="false", TIDINGS_FILES_ROOT="").start()
        yield srv
        srv.stop()


@pytest.fixture(scope="module")
def listener() -> Iterator[ConnectionRecorder]:
    with ConnectionRecorder() as recorder:
        yield recorder


@pytest.fixture
def pinpoint_guarded(guarded):
    return guarded.client("pinpoint")


@pytest.fixture
def guarded_app(pinpoint_guarded) -> tuple[str, str]:
    app_id = pinpoint_guarded.create_app(CreateApplicationRequest={"Name": "ssrf"})["ApplicationResponse"]["Id"]
    segment = {"Name": "all", "Dimensions": {"Demographic": {"Platform": {"Values": ["x"]}}}}
    segment_id = pinpoint_guarded.create_segment(ApplicationId=app_id, WriteSegmentRequest=segment)[
        "SegmentResponse"
    ]["Id"]
    return app_id, segment_id


def refused(call, *words: str) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "BadRequestException", error
    for word in words:
        assert word in error["Message"], error["Message"]
    return error["Message"]


def webhook_campaign(segment_id: str, url: str) -> dict:
    return {
        "Name": "c",
        "SegmentId": segment_id,
        "Schedule": {"StartTime": START, "Frequency": "ONCE"},
        "MessageConfiguration": {"CustomMessage": {"Data": "{}"}},
        "CustomDeliveryConfiguration": {"DeliveryUri": url},
    }


def spelled(listener: ConnectionRecorder, host: str, scheme: str) -> str:
    if host.startswith("[::1]") and not listener.has_ipv6:
        pytest.skip("no IPv6 loopback on this machine")
    return listener.url(host, scheme)


# --- webhooks ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_webhook_loopback_spellings_are_refused(pinpoint_guarded, guarded_app, listener, host, scheme):
    app_id, segment_id = guarded_app
    url = spelled(listener, host, scheme)
    member = "WriteCampaignRequest.CustomDeliveryConfiguration.DeliveryUri"
    refused(
        lambda: pinpoint_guarded.create_campaign(ApplicationId=app_id, WriteCampaignRequest=webhook_campaign(segment_id, url)),
        member, url, "loopback (", "--allow-http-loopback",
    )  # fmt: skip
    # On update, and in a treatment, too.
    campaign = pinpoint_guarded.create_campaign(
        ApplicationId=app_id, WriteCampaignRequest=webhook_campaign(segment_id, "my-function")
    )["CampaignResponse"]
    update = {"CustomDeliveryConfiguration": {"DeliveryUri": url}}
    refused(
        lambda: pinpoint_guarded.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest=update),
        url, "loopback (",
    )  # fmt: skip
    treatment = {"SizePercent": 10, "CustomDeliveryConfiguration": {"DeliveryUri": url}}
    refused(
        lambda: pinpoint_guarded.update_campaign(
            ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={"AdditionalTreatments": [treatment]}
        ),
        "AdditionalTreatments[0].CustomDeliveryConfiguration.DeliveryUri", url, "loopback (",
    )  # fmt: skip
    assert listener.connections == []


@pytest.mark.parametrize(("host", "rule"), list(OTHER_RULES.items()))
def test_webhook_urls_to_other_refused_ranges_name_their_rule(pinpoint_guarded, guarded_app, host, rule):
    app_id, segment_id = guarded_app
    url = f"https://{host}/hook"
    message = refused(
        lambda: pinpoint_guarded.create_campaign(ApplicationId=app_id, WriteCampaignRequest=webhook_campaign(segment_id, url)),
        url, rule,
    )  # fmt: skip
    assert "--allow-http-loopback" not in message  # the flag does not open these


@pytest.mark.parametrize("host", ["127.1", "[::ffff:127.0.0.1]", "localhost"])
def test_campaign_hook_urls_are_refused(pinpoint_guarded, guarded_app, listener, host):
    app_id, _ = guarded_app
    url = spelled(listener, host, "https")
    settings = {"CampaignHook": {"WebUrl": url, "Mode": "DELIVERY"}}
    refused(
        lambda: pinpoint_guarded.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest=settings),
        "WriteApplicationSettingsRequest.CampaignHook.WebUrl", url, "loopback (",
    )  # fmt: skip
    assert listener.connections == []


# --- imports -----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_import_urls_to_loopback_are_refused(pinpoint_guarded, guarded_app, listener, host, scheme):
    app_id, _ = guarded_app
    url = spelled(listener, host, scheme) + ".json"
    request = {"Format": "JSON", "S3Url": url, "RoleArn": ROLE}
    refused(
        lambda: pinpoint_guarded.create_import_job(ApplicationId=app_id, ImportJobRequest=request),
        "ImportJobRequest.S3Url", url, "loopback (",
    )  # fmt: skip
    assert listener.connections == []


def test_import_urls_to_the_metadata_service_are_refused(pinpoint_guarded, guarded_app):
    app_id, _ = guarded_app
    url = "https://169.254.169.254/latest/meta-data/iam/security-credentials/"
    request = {"Format": "JSON", "S3Url": url, "RoleArn": ROLE}
    refused(
        lambda: pinpoint_guarded.create_import_job(ApplicationId=app_id, ImportJobRequest=request),
        url, "link-local (169.254.0.0/16)",
    )  # fmt: skip


# --- redirects (the default test server allows loopback, so both ends can be local) -----


def redirect_to(target: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode()


def test_an_import_does_not_follow_a_redirect(pinpoint, app_id):
    with ConnectionRecorder() as inside, ConnectionRecorder(answer=redirect_to(inside.url(path="/x.json"))) as outer:
        job = import_job_url(pinpoint, app_id, outer.url(path="/x.json"))
        job = wait_for_job(pinpoint, app_id, job["Id"])
        assert len(outer.connections) == 1
        assert inside.connections == []
    assert job["JobStatus"] == "FAILED"
    assert "HTTP 302" in job["Failures"][0] and "redirects are not followed" in job["Failures"][0]


def import_job_url(pinpoint, app_id: str, url: str) -> dict:
    request = {"Format": "JSON", "S3Url": url, "RoleArn": ROLE}
    return pinpoint.create_import_job(ApplicationId=app_id, ImportJobRequest=request)["ImportJobResponse"]


def test_the_ownership_check_does_not_follow_a_redirect(pinpoint, app_id, segment_id_default):
    with ConnectionRecorder() as inside, ConnectionRecorder(answer=redirect_to(inside.url())) as outer:
        url = outer.url()
        refused(
            lambda: pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=webhook_campaign(segment_id_default, url)),
            url, "a HEAD request must answer 2xx",
        )  # fmt: skip
        assert len(outer.connections) == 1
        assert inside.connections == []


@pytest.fixture
def segment_id_default(pinpoint, app_id) -> str:
    segment = {"Name": "all", "Dimensions": {"Demographic": {"Platform": {"Values": ["x"]}}}}
    return pinpoint.create_segment(ApplicationId=app_id, WriteSegmentRequest=segment)["SegmentResponse"]["Id"]


def test_a_paused_campaign_reports_the_status_not_the_webhook_body(server, pinpoint, app_id, webhook_receiver):
    webhook_receiver.fail_next(1000, status=503)
    add_endpoints(pinpoint, app_id, 50 * 12)
    segment_id = everyone_segment(pinpoint, app_id)
    request = {
        **webhook_campaign(segment_id, webhook_receiver.url),
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
    }
    campaign = pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=request)["CampaignResponse"]
    wait_for_status(pinpoint, app_id, campaign["Id"], wanted=("PAUSED",))
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    message = activity["ExecutionMetrics"]["Message"]
    assert f"HTTP 503 Service Unavailable from {webhook_receiver.url}" in message
    assert "received" not in message  # the receiver's body: {"received": false}


# --- file:// and --files-root --------------------------------------------------------------


def test_file_urls_are_refused_until_a_files_root_is_set(pinpoint_guarded, guarded_app, tmp_path):
    app_id, _ = guarded_app
    path = write_lines(tmp_path / "e.json", minimal_rows(1))
    request = {"Format": "JSON", "S3Url": path.as_uri(), "RoleArn": ROLE}
    refused(
        lambda: pinpoint_guarded.create_import_job(ApplicationId=app_id, ImportJobRequest=request),
        "ImportJobRequest.S3Url", "--files-root", "TIDINGS_FILES_ROOT",
    )  # fmt: skip
    export = {"S3UrlPrefix": (tmp_path / "out").as_uri(), "RoleArn": ROLE}
    refused(
        lambda: pinpoint_guarded.create_export_job(ApplicationId=app_id, ExportJobRequest=export),
        "ExportJobRequest.S3UrlPrefix", "--files-root",
    )  # fmt: skip


@pytest.fixture(scope="module")
def rooted_dirs(tmp_path_factory) -> tuple:
    return tmp_path_factory.mktemp("root"), tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def rooted(database_url, tmp_path_factory, rooted_dirs) -> Iterator[Server]:
    """A server whose --files-root is one directory (the test servers otherwise use the whole
    pytest temp dir)."""
    root, _ = rooted_dirs
    folder = tmp_path_factory.mktemp("rooted")
    with store_url(backend_of(database_url), folder) as url:  # its own store (see `guarded`)
        srv = Server(url, folder / "server.log", TIDINGS_FILES_ROOT=str(root)).start()
        yield srv
        srv.stop()


@pytest.fixture
def rooted_app(rooted) -> tuple:
    client = rooted.client("pinpoint")
    app_id = client.create_app(CreateApplicationRequest={"Name": "files"})["ApplicationResponse"]["Id"]
    return client, app_id


def test_an_import_inside_the_root_works(rooted_app, rooted_dirs):
    client, app_id = rooted_app
    root, _ = rooted_dirs
    path = write_lines(root / "inside.json", minimal_rows(3, "in"))
    job = wait_for_job(client, app_id, import_job(client, app_id, path)["Id"])
    assert job["JobStatus"] == "COMPLETED" and job["TotalProcessed"] == 3


def test_an_import_outside_the_root_is_refused(rooted_app, rooted_dirs):
    client, app_id = rooted_app
    root, elsewhere = rooted_dirs
    outside = write_lines(elsewhere / "secret.json", minimal_rows(1))
    message = refused(lambda: import_job(client, app_id, outside), "ImportJobRequest.S3Url", "outside", str(root))
    assert "--files-root" in message
    refused(lambda: import_job(client, app_id, root / ".." / elsewhere.name / "secret.json"), "'..'")
    # /etc/passwd, the classic
    request = {"Format": "CSV", "S3Url": "file:///etc/passwd", "RoleArn": ROLE}
    message = refused(lambda: client.create_import_job(ApplicationId=app_id, ImportJobRequest=request), "outside")
    assert "root:" not in message


def test_a_link_inside_the_root_that_leads_out_is_refused(rooted_app, rooted_dirs):
    client, app_id = rooted_app
    root, elsewhere = rooted_dirs
    secret = write_lines(elsewhere / "linked.json", minimal_rows(1, "secret"))
    link = root / "link.json"
    if not link.is_symlink():
        link.symlink_to(secret)
    message = refused(lambda: import_job(client, app_id, link), "outside")
    assert str(secret) not in message  # where a link leads is the host's business
    message = refused(lambda: import_job(client, app_id, Path("/proc/self/cwd")), "outside")
    assert os.getcwd() not in message.replace("/proc/self/cwd", "")
    # A linked directory the same.
    linked_dir = root / "linked-dir"
    if not linked_dir.is_symlink():
        linked_dir.symlink_to(elsewhere, target_is_directory=True)
    refused(lambda: import_job(client, app_id, linked_dir / "linked.json"), "outside")
    # A link inside an imported directory: that piece fails, the others are imported.
    folder = root / "drop"
    folder.mkdir(exist_ok=True)
    write_lines(folder / "a.json", minimal_rows(2, "drop"))
    if not (folder / "b.json").is_symlink():
        (folder / "b.json").symlink_to(secret)
    job = wait_for_job(client, app_id, import_job(client, app_id, folder)["Id"])
    assert (job["TotalPieces"], job["CompletedPieces"], job["FailedPieces"]) == (2, 1, 1), job
    assert any("outside" in failure for failure in job["Failures"]), job["Failures"]
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_endpoint(ApplicationId=app_id, EndpointId="secret0000000")


def test_exports_are_written_inside_the_root_only(rooted_app, rooted_dirs):
    client, app_id = rooted_app
    root, elsewhere = rooted_dirs
    refused(
        lambda: client.create_export_job(
            ApplicationId=app_id, ExportJobRequest={"S3UrlPrefix": (elsewhere / "out").as_uri(), "RoleArn": ROLE}
        ),
        "ExportJobRequest.S3UrlPrefix", "outside",
    )  # fmt: skip
    escape = root / "escape"
    if not escape.is_symlink():
        escape.symlink_to(elsewhere, target_is_directory=True)
    refused(
        lambda: client.create_export_job(
            ApplicationId=app_id, ExportJobRequest={"S3UrlPrefix": (escape / "out").as_uri(), "RoleArn": ROLE}
        ),
        "outside",
    )  # fmt: skip
    add_endpoints(client, app_id, 3)
    export = {"S3UrlPrefix": (root / "exports" / "new").as_uri(), "RoleArn": ROLE}
    job = client.create_export_job(ApplicationId=app_id, ExportJobRequest=export)["ExportJobResponse"]
    done = wait_for_job(client, app_id, job["Id"], kind="export")
    assert done["JobStatus"] == "COMPLETED" and done["TotalProcessed"] == 3
    assert len((root / "exports" / "new" / job["Id"] / "part-00000.json").read_text().splitlines()) == 3
    assert not any(elsewhere.rglob("part-*.json"))


@pytest.mark.parametrize("url", ["https://[::1/x", "https://[x]/x", "https://hooks.example.org:99999/x"])
def test_a_url_that_does_not_parse_is_a_bad_request(pinpoint_guarded, guarded_app, url):
    app_id, segment_id = guarded_app
    request = {"Format": "JSON", "S3Url": url, "RoleArn": ROLE}
    refused(lambda: pinpoint_guarded.create_import_job(ApplicationId=app_id, ImportJobRequest=request), "is not a URL")
    campaign = webhook_campaign(segment_id, url)
    refused(lambda: pinpoint_guarded.create_campaign(ApplicationId=app_id, WriteCampaignRequest=campaign), "is not a URL")
