"""Import rows (JSON lines, CSV headers and cells) and job rules (URLs, final status)."""

from __future__ import annotations

import pytest

from tidings.domain import jobs
from tidings.domain.errors import InvalidInput
from tidings.domain.imports import CsvPlan, Row, RowError, json_row
from tidings.wire import shapes
from tidings.wire.model import load_service_model

ITEM = load_service_model("pinpoint", "2016-12-01").shape_for("EndpointBatchItem")
CHECK = shapes.checker(ITEM)
TREE = shapes.tree(ITEM)


def test_a_json_row_is_checked_like_the_api_and_loses_response_only_members():
    row = json_row(
        b'{"Id": "e1", "ChannelType": "SMS", "Address": "+1", "CohortId": "7", "ApplicationId": "a",'
        b' "CreationDate": "2020-01-01T00:00:00Z", "Attributes": {"plan": ["pro"]}}',
        3,
        CHECK,
    )
    assert row == Row(3, "e1", {"ChannelType": "SMS", "Address": "+1", "Attributes": {"plan": ["pro"]}})


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{oops", ("not valid JSON",)),
        (b"[1, 2]", ("a list", "endpoint object")),
        (b'{"Id": "e", "ChannelType": "SMS", "Metrics": {"x": "many"}}', ("Endpoint.Metrics.x", "number")),
        (b'{"Id": "e", "Adress": "x"}', ("Adress", "EndpointBatchItem")),
        (b'{"Id": "e", "Attributes": {"a": "one"}}', ("Endpoint.Attributes.a", "list")),
        (b'{"Id": 5}', ("Endpoint.Id", "string")),
    ],
)
def test_json_row_errors_name_the_member(raw, words):
    with pytest.raises(RowError) as caught:
        json_row(raw, 1, CHECK)
    assert all(w in caught.value.message for w in words), caught.value.message


def test_the_fast_check_agrees_with_the_api_check():
    plain = {"Id": "e", "ChannelType": "SMS", "User": {"UserId": "u", "UserAttributes": {"a": ["b"]}},
             "Location": {"Latitude": 1, "Longitude": 2.5}, "Metrics": {"m": 1.5}}  # fmt: skip
    assert CHECK(plain, "Endpoint") is plain
    # Nulls are dropped as the API drops them (the slow path answers).
    assert CHECK({"Id": "e", "Address": None}, "Endpoint") == {"Id": "e"}
    with pytest.raises(InvalidInput, match="expected true or false|expected a number"):
        CHECK({"Metrics": {"m": True}}, "Endpoint")


def test_a_user_id_alone_names_a_user():
    assert json_row(b'{"User": {"UserId": "ana"}}', 4, CHECK) == Row(4, None, None, ("ana",))
    assert json_row(b'{"Id": "e", "User": {"UserId": "ana"}}', 4, CHECK).endpoint_id == "e"


def test_csv_columns_follow_pinpoint_names_and_repeat_for_several_values():
    plan = CsvPlan(
        ["\ufeffId", "ChannelType", " Address ", "User.UserAttributes.psid", "Attributes.tag", "Attributes.tag",
         "Attributes.a.b", "Metrics.visits", "Location.Latitude", "CohortId"],
        TREE,
    )  # fmt: skip
    row = plan.row(["e1", "SMS", "+1", "9", "x, y", "z", "dotted", "3", "40.5", "99"], 2, CHECK)
    assert row == Row(2, "e1", {
        "ChannelType": "SMS", "Address": "+1", "User": {"UserAttributes": {"psid": ["9"]}},
        "Attributes": {"tag": ["x, y", "z"], "a.b": ["dotted"]}, "Metrics": {"visits": 3},
        "Location": {"Latitude": 40.5},
    })  # fmt: skip
    assert plan.row(["e2", "", ""], 3, CHECK) == Row(3, "e2", {})


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (["Id", "Adress"], ("column 2 is not", "Address", "Attributes.<name>")),
        (["Id", "Address", "Address"], ("'Address' twice", "columns 2 and 3")),
        (["Location"], ("column 1 is not",)),
        (["Attributes"], ("needs an attribute name", "Attributes.plan")),
        (["Id", ""], ("column 2 has no name",)),
        (["Demographic.Timezone.Extra"], ("column 1 is not",)),
        # /etc/passwd's first line: a file that is not an import is never quoted back.
        (["root:x:0:0:root:/root:/bin/bash"], ("column 1 is not",)),
    ],
)
def test_csv_headers_that_cannot_be_read_say_why(header, words):
    with pytest.raises(InvalidInput) as caught:
        CsvPlan(header, TREE)
    assert all(w in caught.value.message for w in words), caught.value.message
    unknown = [name for name in header if name and name.split(".")[0] not in TREE]
    assert not any(name in caught.value.message for name in unknown), caught.value.message


def test_csv_cells_that_cannot_be_read_say_why():
    plan = CsvPlan(["Id", "Metrics.visits", "ChannelType"], TREE)
    with pytest.raises(RowError, match="'Metrics.visits' must be a number, got 'nan'"):
        plan.row(["e", "nan", "SMS"], 2, CHECK)
    with pytest.raises(RowError, match="4 fields but the header has 3"):
        plan.row(["e", "1", "SMS", "x"], 2, CHECK)
    with pytest.raises(RowError, match="FAX"):
        plan.row(["e", "1", "FAX"], 2, CHECK)


def test_a_csv_of_user_ids_lists_users_separated_by_spaces():
    plan = CsvPlan(["User.UserId"], TREE)
    assert plan.row(["ana  bo"], 2, CHECK) == Row(2, None, None, ("ana", "bo"))


def test_import_urls():
    assert jobs.import_source("file:///data/my%20file.json", "S3Url").path == "/data/my file.json"
    assert jobs.import_source("file://localhost/data/x.csv", "S3Url").name == "x.csv"
    assert jobs.import_source("https://bucket.s3.amazonaws.com/k.json?X-Amz-Signature=s", "S3Url").name == "k.json"
    s3 = jobs.import_source("s3://bucket/exports/my%20app/", "S3Url")
    assert (s3.scheme, s3.bucket, s3.prefix, s3.name) == ("s3", "bucket", "exports/my app/", "my app")
    assert jobs.import_source("s3://bucket", "S3Url").prefix == ""
    with pytest.raises(InvalidInput, match="s3://bucket-name/prefix/"):
        jobs.import_source("s3:///key", "S3Url")
    with pytest.raises(InvalidInput, match="file://, https:// and s3://"):
        jobs.import_source("http://example.com/x.json", "S3Url", allow_http_loopback=True)
    assert jobs.import_source("http://127.0.0.1:9/x.json", "S3Url", allow_http_loopback=True).scheme == "http"
    with pytest.raises(InvalidInput, match="three slashes"):
        jobs.export_target("file://exports/", "S3UrlPrefix")


def test_a_job_fails_only_when_nothing_could_be_imported():
    assert jobs.final_status(pieces=1, failed_pieces=1, processed=0, failures=0) == "FAILED"
    assert jobs.final_status(pieces=2, failed_pieces=1, processed=5, failures=0) == "COMPLETED"
    assert jobs.final_status(pieces=1, failed_pieces=0, processed=5, failures=5) == "FAILED"
    assert jobs.final_status(pieces=1, failed_pieces=0, processed=5, failures=4) == "COMPLETED"
    assert jobs.final_status(pieces=1, failed_pieces=0, processed=0, failures=0) == "COMPLETED"
