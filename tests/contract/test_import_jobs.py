"""Import jobs through boto3 and the AWS CLI against a live server: JSON lines and CSV,
row errors reported by line, imported segments, paging, and what is refused."""

from __future__ import annotations

import http.server
import json
import threading
from functools import partial

import pytest
from botocore.exceptions import ClientError

from tests.campaigns import add_endpoints, recorded, recording_channel, wait_for_status
from tests.jobs import ROLE, endpoint, import_job, imported, minimal_rows, wait_for_job, write_lines
from tests.pages import all_pages

COHORTS = {str(n) for n in range(100)}


def refused(call, *words: str) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "BadRequestException", error
    for word in words:
        assert word in error["Message"], error["Message"]
    return error["Message"]


def test_json_import_keeps_good_rows_and_names_the_lines_of_bad_ones(pinpoint, app_id, tmp_path):
    rows = [
        {"Id": "good-1", "ChannelType": "SMS", "Address": "+15550100", "Attributes": {"plan": ["pro"]},
         "User": {"UserId": "ana", "UserAttributes": {"name": ["Ana"]}}, "Metrics": {"visits": 3},
         "Location": {"Country": "US", "Latitude": 47.61, "Longitude": -122.33},
         "Demographic": {"Timezone": "America/New_York"}},
        {"ChannelType": "EMAIL"},  # line 2: a new endpoint needs an Address
        "{not json",  # line 3
        {"Id": "good-2", "ChannelType": "EMAIL", "Address": "b@example.com", "OptOut": "ALL"},
        {"Id": "bad-type", "ChannelType": "PIGEON", "Address": "x"},  # line 5
        {"Id": "bad-lat", "ChannelType": "SMS", "Address": "+1", "Location": {"Latitude": 95}},  # line 6
        "",  # a blank line is skipped, not counted
        ["a", "list"],  # line 8
        {"ChannelType": "CUSTOM", "Address": "no-id-here"},  # gets an id
        {"Id": "bad-id-${x}", "ChannelType": "SMS", "Address": "+2"},  # line 10
        {"Id": "big", "ChannelType": "SMS", "Address": "+3", "Attributes": {"a": ["x" * 101]}},  # line 11
    ]  # fmt: skip
    job = imported(pinpoint, app_id, write_lines(tmp_path / "people.json", rows))

    assert job["JobStatus"] == "COMPLETED" and job["Type"] == "IMPORT"
    assert (job["TotalPieces"], job["CompletedPieces"], job["FailedPieces"]) == (1, 1, 0)
    assert (job["TotalProcessed"], job["TotalFailures"]) == (10, 7)
    failures = job["Failures"]
    assert [f.split(":")[0] for f in failures] == ["line 2", "line 3", "line 5", "line 6", "line 8", "line 10", "line 11"]
    assert "Address is required for a new endpoint" in failures[0]
    assert "JSON" in failures[1]
    assert "PIGEON" in failures[2] and "ChannelType" in failures[2]
    assert "Location.Latitude" in failures[3]
    assert "list" in failures[4]
    assert "Id" in failures[5] and "$" in failures[5]
    assert "Attributes.a" in failures[6] and "100" in failures[6]
    assert job["CompletionDate"] >= job["CreationDate"]

    good = endpoint(pinpoint, app_id, "good-1")
    assert good["ChannelType"] == "SMS" and good["Address"] == "+15550100"
    assert good["Attributes"] == {"plan": ["pro"]} and good["Metrics"] == {"visits": 3}
    assert good["User"] == {"UserId": "ana", "UserAttributes": {"name": ["Ana"]}}
    assert good["Location"]["Latitude"] == 47.6 and good["Demographic"]["Timezone"] == "America/New_York"
    assert good["EndpointStatus"] == "ACTIVE" and good["OptOut"] == "NONE" and good["CohortId"] in COHORTS
    assert good["RequestId"] == job["Id"]
    assert endpoint(pinpoint, app_id, "good-2")["OptOut"] == "ALL"
    for missing in ("bad-type", "bad-lat", "big"):
        with pytest.raises(pinpoint.exceptions.NotFoundException):
            endpoint(pinpoint, app_id, missing)
    names = pinpoint.get_user_endpoints(ApplicationId=app_id, UserId="ana")["EndpointsResponse"]["Item"]
    assert [e["Id"] for e in names] == ["good-1"]


def test_import_updates_existing_endpoints_by_the_endpoint_rules(pinpoint, app_id, tmp_path):
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={"Item": [
            {"Id": "known", "ChannelType": "EMAIL", "Address": "k@example.com",
             "Attributes": {"plan": ["free"], "team": ["red"]}, "OptOut": "NONE"},
            {"Id": "twin", "ChannelType": "EMAIL", "Address": "shared@example.com"},
        ]},
    )  # fmt: skip
    before = endpoint(pinpoint, app_id, "known")
    rows = [
        {"Id": "known", "Attributes": {"plan": ["pro"]}},  # an update needs only the Id
        {"Id": "newcomer", "ChannelType": "EMAIL", "Address": "shared@example.com"},
        {"Id": "ghost", "Attributes": {"plan": ["x"]}},  # line 3: new, so it needs Address
    ]
    job = imported(pinpoint, app_id, write_lines(tmp_path / "updates.json", rows))

    assert job["TotalFailures"] == 1 and job["Failures"][0].startswith("line 3: ")
    assert "'ghost' does not exist yet" in job["Failures"][0]
    after = endpoint(pinpoint, app_id, "known")
    assert after["Attributes"] == {"plan": ["pro"], "team": ["red"]}
    assert after["CohortId"] == before["CohortId"] and after["CreationDate"] == before["CreationDate"]
    # The same-address rule: the endpoint written last keeps the address active.
    assert endpoint(pinpoint, app_id, "twin")["EndpointStatus"] == "INACTIVE"
    assert endpoint(pinpoint, app_id, "newcomer")["EndpointStatus"] == "ACTIVE"


def test_csv_import_reads_pinpoint_column_names_and_repeated_attribute_columns(pinpoint, app_id, tmp_path):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "Id,ChannelType,Address,User.UserId,User.UserAttributes.facebookMessengerPsid,"
        "Attributes.plan,Attributes.interests,Attributes.interests,Metrics.visits,"
        "Location.Country,Location.Latitude,Demographic.Timezone,OptOut\n"
        'c1,CUSTOM,psid-1,u1,1234,pro,"cooking, baking",travel,7,US,40.71,America/New_York,NONE\n'
        "c2,CUSTOM,psid-2,u2,5678,free,,,2.5,FR,,Europe/Paris,\n"
        ",CUSTOM,,u3,,,,,,,,,\n"  # line 4: a new endpoint needs an Address
        "c4,CUSTOM,psid-4,,,,,,many,,,,\n"  # line 5: not a number
        "c5,SMOKE,psid-5,,,,,,,,,,\n"  # line 6: no such channel
        ",,,,,,,,,,,,\n"  # an empty row is skipped
        "c6,EMAIL,e@example.com\n"  # fewer fields than the header: the rest are empty
        "c7,EMAIL,x,,,,,,,,,,,,extra\n"  # line 9: more fields than the header
    )
    job = imported(pinpoint, app_id, csv_file, "CSV")

    assert job["JobStatus"] == "COMPLETED", job
    assert job["TotalProcessed"] == 7 and job["TotalFailures"] == 4
    assert [f.split(":")[0] for f in job["Failures"]] == ["line 4", "line 5", "line 6", "line 9"]
    assert "Address" in job["Failures"][0]
    assert "Metrics.visits" in job["Failures"][1] and "'many'" in job["Failures"][1]
    assert "SMOKE" in job["Failures"][2]
    assert "fields" in job["Failures"][3]
    c1 = endpoint(pinpoint, app_id, "c1")
    assert c1["User"] == {"UserId": "u1", "UserAttributes": {"facebookMessengerPsid": ["1234"]}}
    assert c1["Attributes"] == {"plan": ["pro"], "interests": ["cooking, baking", "travel"]}
    assert c1["Metrics"] == {"visits": 7} and c1["Location"] == {"Country": "US", "Latitude": 40.7}
    assert c1["Demographic"] == {"Timezone": "America/New_York"} and c1["OptOut"] == "NONE"
    c2 = endpoint(pinpoint, app_id, "c2")
    assert c2["Metrics"] == {"visits": 2.5} and "interests" not in c2["Attributes"]
    assert endpoint(pinpoint, app_id, "c6")["ChannelType"] == "EMAIL"


def test_csv_with_an_unknown_column_fails_the_job_naming_it(pinpoint, app_id, tmp_path):
    csv_file = tmp_path / "typo.csv"
    csv_file.write_text("Id,ChannelType,Adress\nx,SMS,+1\n")
    job = imported(pinpoint, app_id, csv_file, "CSV")

    assert job["JobStatus"] == "FAILED"
    assert (job["TotalPieces"], job["FailedPieces"], job["TotalProcessed"]) == (1, 1, 0)
    assert "column 3 is not an endpoint member" in job["Failures"][0] and "Address" in job["Failures"][0]


def test_a_file_that_is_not_an_import_is_never_quoted_back(pinpoint, app_id, tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    for fmt in ("CSV", "JSON"):
        job = imported(pinpoint, app_id, passwd, fmt)
        assert job["JobStatus"] == "FAILED"
        assert job["Failures"] and not any("root" in f or "daemon" in f for f in job["Failures"]), job["Failures"]


def test_a_job_where_every_row_is_refused_fails(pinpoint, app_id, tmp_path):
    job = imported(pinpoint, app_id, write_lines(tmp_path / "bad.json", [{"ChannelType": "SMS"}, "[]"]))
    assert job["JobStatus"] == "FAILED" and job["TotalFailures"] == job["TotalProcessed"] == 2


def test_a_directory_is_imported_file_by_file(pinpoint, app_id, tmp_path):
    folder = tmp_path / "drop"
    (folder / "more").mkdir(parents=True)
    write_lines(folder / "a.json", minimal_rows(3, "a"))
    write_lines(folder / "more" / "b.json", [*minimal_rows(2, "b"), {"ChannelType": "SMS"}])
    (folder / ".hidden").write_text("not read")
    job = imported(pinpoint, app_id, folder)

    assert job["JobStatus"] == "COMPLETED"
    assert (job["TotalPieces"], job["CompletedPieces"], job["TotalProcessed"]) == (2, 2, 6)
    assert job["Failures"] == [job["Failures"][0]] and job["Failures"][0].startswith("more/b.json line 3: ")


def test_define_segment_makes_an_imported_segment_a_campaign_sends_to(pinpoint, lambda_client, app_id, tmp_path):
    add_endpoints(pinpoint, app_id, 30, prefix="other")  # in the app, not in the file
    rows = [*minimal_rows(120, "imp"), {"Id": "imp-mail", "ChannelType": "EMAIL", "Address": "m@example.com"}]
    job = imported(pinpoint, app_id, write_lines(tmp_path / "vip.json", rows), DefineSegment=True, SegmentName="VIPs")

    assert job["JobStatus"] == "COMPLETED" and job["Definition"]["DefineSegment"] is True
    segment_id = job["Definition"]["SegmentId"]
    segment = pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment_id)["SegmentResponse"]
    assert segment["SegmentType"] == "IMPORT" and segment["Name"] == "VIPs" and segment["Version"] == 1
    definition = segment["ImportDefinition"]
    assert definition["Size"] == 121 and definition["ChannelCounts"] == {"CUSTOM": 120, "EMAIL": 1}
    assert definition["Format"] == "JSON" and definition["S3Url"] == (tmp_path / "vip.json").as_uri()
    assert definition["RoleArn"] == ROLE
    listed = pinpoint.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"]
    assert segment_id in {s["Id"] for s in listed}

    name, out = recording_channel(lambda_client, tmp_path, "imported")
    campaign = pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "to the import",
            "SegmentId": segment_id,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            "MessageConfiguration": {"CustomMessage": {"Data": "hi"}},
            "CustomDeliveryConfiguration": {"DeliveryUri": name, "EndpointTypes": ["CUSTOM"]},
        },
    )["CampaignResponse"]
    wait_for_status(pinpoint, app_id, campaign["Id"])
    delivered = sorted(i for event in recorded(out) for i in event["Endpoints"])
    assert delivered == sorted(r["Id"] for r in rows[:120])


def test_segment_id_refreshes_an_imported_segment_as_a_new_version(pinpoint, app_id, tmp_path):
    first = imported(pinpoint, app_id, write_lines(tmp_path / "v1.json", minimal_rows(5, "v")), DefineSegment=True)
    segment_id = first["Definition"]["SegmentId"]
    assert first["Definition"]["SegmentName"] == "v1"  # named after the file, as Pinpoint's console does
    second = imported(
        pinpoint, app_id, write_lines(tmp_path / "v2.json", minimal_rows(2, "w")), SegmentId=segment_id, SegmentName="renamed"
    )
    assert second["JobStatus"] == "COMPLETED"

    latest = pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment_id)["SegmentResponse"]
    assert latest["Version"] == 2 and latest["Name"] == "renamed" and latest["ImportDefinition"]["Size"] == 2
    old = pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment_id, Version="1")["SegmentResponse"]
    assert old["ImportDefinition"]["Size"] == 5
    jobs = pinpoint.get_segment_import_jobs(ApplicationId=app_id, SegmentId=segment_id)["ImportJobsResponse"]["Item"]
    assert [j["Id"] for j in jobs] == [second["Id"], first["Id"]]  # newest first

    # Only the name of an imported segment changes through UpdateSegment; the endpoints stay.
    renamed = pinpoint.update_segment(
        ApplicationId=app_id, SegmentId=segment_id, WriteSegmentRequest={"Name": "again"}
    )["SegmentResponse"]
    assert renamed["Version"] == 3 and renamed["SegmentType"] == "IMPORT"
    refused(
        lambda: pinpoint.update_segment(
            ApplicationId=app_id, SegmentId=segment_id, WriteSegmentRequest={"Dimensions": {"Demographic": {}}}
        ),
        "imported segment",
        "CreateImportJob",
    )
    dimensional = pinpoint.create_segment(
        ApplicationId=app_id, WriteSegmentRequest={"Name": "dims", "Dimensions": {}}
    )["SegmentResponse"]["Id"]
    refused(
        lambda: import_job(pinpoint, app_id, tmp_path / "v2.json", SegmentId=dimensional),
        "ImportJobRequest.SegmentId",
        "DIMENSIONAL",
    )


def test_user_rows_bring_their_users_endpoints_into_the_segment(pinpoint, app_id, tmp_path):
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={"Item": [
            {"Id": "ana-phone", "ChannelType": "SMS", "Address": "+1", "User": {"UserId": "ana"}},
            {"Id": "ana-mail", "ChannelType": "EMAIL", "Address": "a@x", "User": {"UserId": "ana"}},
            {"Id": "bo-mail", "ChannelType": "EMAIL", "Address": "b@x", "User": {"UserId": "bo"}},
        ]},
    )  # fmt: skip
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("User.UserId\nana\nnobody bo\n")
    job = imported(pinpoint, app_id, csv_file, "CSV", DefineSegment=True)

    assert job["JobStatus"] == "COMPLETED"
    assert job["TotalFailures"] == 1 and "'nobody' has no endpoints" in job["Failures"][0]
    segment = pinpoint.get_segment(ApplicationId=app_id, SegmentId=job["Definition"]["SegmentId"])["SegmentResponse"]
    assert segment["ImportDefinition"]["Size"] == 3
    assert segment["ImportDefinition"]["ChannelCounts"] == {"SMS": 1, "EMAIL": 2}

    plain = imported(pinpoint, app_id, write_lines(tmp_path / "u.json", [{"User": {"UserId": "ana"}}]))
    assert plain["JobStatus"] == "FAILED" and "DefineSegment" in plain["Failures"][0]


def test_the_project_attribute_name_limit_refuses_the_row_that_passes_it(pinpoint, app_id, tmp_path):
    rows = [{"Id": f"n{i}", "ChannelType": "SMS", "Address": f"+{i}", "Attributes": {f"a{i}": ["v"]}} for i in range(252)]
    job = imported(pinpoint, app_id, write_lines(tmp_path / "names.json", rows))

    assert job["JobStatus"] == "COMPLETED" and job["TotalFailures"] == 2
    assert job["Failures"][0].startswith("line 251: ") and "RemoveAttributes" in job["Failures"][0]
    assert "Attributes.a250" in job["Failures"][0]


def test_get_import_jobs_pages_newest_first(pinpoint, app_id, tmp_path):
    path = write_lines(tmp_path / "few.json", minimal_rows(2))
    created = [import_job(pinpoint, app_id, path)["Id"] for _ in range(3)]
    for job_id in created:
        wait_for_job(pinpoint, app_id, job_id)
    items, pages = all_pages(pinpoint.get_import_jobs, "ImportJobsResponse", 2, ApplicationId=app_id)
    assert pages == 2 and [j["Id"] for j in items] == created[::-1]
    assert all(j["JobStatus"] == "COMPLETED" and j["TotalProcessed"] == 2 for j in items)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_import_job(ApplicationId=app_id, JobId="nope")


def test_import_urls_tidings_cannot_read_are_refused(pinpoint, app_id, tmp_path):
    def create(url: str, **members):
        request = {"Format": "JSON", "S3Url": url, "RoleArn": ROLE, **members}
        return lambda: pinpoint.create_import_job(ApplicationId=app_id, ImportJobRequest=request)

    refused(create("s3:///people.json"), "ImportJobRequest.S3Url", "s3://bucket-name/prefix/")
    refused(create("file://relative/people.json"), "file:///")
    refused(create(f"file://{tmp_path}/missing.json"), "does not exist")
    refused(create("ftp://example.com/x"), "file://")
    with pytest.raises(ClientError) as caught:
        pinpoint.create_import_job(ApplicationId=app_id, ImportJobRequest={"Format": "XML", "S3Url": "file:///x", "RoleArn": ROLE})
    assert "Format" in caught.value.response["Error"]["Message"]


def test_import_from_an_http_url(pinpoint, app_id, tmp_path):
    write_lines(tmp_path / "served.json", minimal_rows(4, "web"))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/served.json?X-Amz-Signature=secret"
        request = {"Format": "JSON", "S3Url": url, "RoleArn": ROLE}
        job = pinpoint.create_import_job(ApplicationId=app_id, ImportJobRequest=request)["ImportJobResponse"]
        done = wait_for_job(pinpoint, app_id, job["Id"])
        assert done["JobStatus"] == "COMPLETED" and done["TotalProcessed"] == 4
        missing = pinpoint.create_import_job(
            ApplicationId=app_id, ImportJobRequest={**request, "S3Url": url.replace("served", "gone")}
        )["ImportJobResponse"]
        failed = wait_for_job(pinpoint, app_id, missing["Id"])
        assert failed["JobStatus"] == "FAILED" and "404" in failed["Failures"][0]
        assert "secret" not in failed["Failures"][0]  # a presigned URL's query is a credential
    finally:
        httpd.shutdown()
    assert endpoint(pinpoint, app_id, "web0000003")["Address"] == "addr-web0000003"


def test_aws_cli_creates_and_reads_an_import_job(server, pinpoint, app_id, tmp_path):
    path = write_lines(tmp_path / "cli.json", minimal_rows(3, "cli"))
    created = server.aws(
        "pinpoint", "create-import-job", "--application-id", app_id,
        "--import-job-request", f"Format=JSON,S3Url={path.as_uri()},RoleArn={ROLE},DefineSegment=true,SegmentName=cli",
    ).json["ImportJobResponse"]  # fmt: skip
    assert created["JobStatus"] == "CREATED" and created["Definition"]["S3Url"] == path.as_uri()
    wait_for_job(pinpoint, app_id, created["Id"])
    job = server.aws("pinpoint", "get-import-job", "--application-id", app_id, "--job-id", created["Id"]).json
    assert job["ImportJobResponse"]["JobStatus"] == "COMPLETED"
    assert job["ImportJobResponse"]["TotalProcessed"] == 3
    listed = server.aws("pinpoint", "get-import-jobs", "--application-id", app_id).json["ImportJobsResponse"]["Item"]
    assert created["Id"] in {j["Id"] for j in listed}
    ftp = server.aws(
        "pinpoint", "create-import-job", "--application-id", app_id,
        "--import-job-request", f"Format=JSON,S3Url=ftp://example.com/cli.json,RoleArn={ROLE}", check=False,
    )  # fmt: skip
    assert ftp.returncode != 0 and "BadRequestException" in ftp.stderr and "file://" in ftp.stderr


def test_deleting_the_app_removes_its_jobs_and_lists(pinpoint, app_id, tmp_path):
    job = imported(pinpoint, app_id, write_lines(tmp_path / "gone.json", minimal_rows(3)), DefineSegment=True)
    pinpoint.delete_app(ApplicationId=app_id)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_import_job(ApplicationId=app_id, JobId=job["Id"])


def test_exported_files_import_again(pinpoint, app_id, tmp_path):
    rows = [{**r, "Attributes": {"n": [str(i)]}} for i, r in enumerate(minimal_rows(5, "rt"))]
    imported(pinpoint, app_id, write_lines(tmp_path / "in.json", rows))
    export = pinpoint.create_export_job(
        ApplicationId=app_id, ExportJobRequest={"S3UrlPrefix": (tmp_path / "out").as_uri() + "/", "RoleArn": ROLE}
    )["ExportJobResponse"]
    done = wait_for_job(pinpoint, app_id, export["Id"], "export")
    [part] = sorted((tmp_path / "out" / export["Id"]).iterdir())
    lines = [json.loads(line) for line in part.read_text().splitlines()]
    assert done["TotalProcessed"] == 5 and [e["Id"] for e in lines] == [r["Id"] for r in rows]

    other = pinpoint.create_app(CreateApplicationRequest={"Name": "copy"})["ApplicationResponse"]["Id"]
    again = imported(pinpoint, other, part)
    assert again["JobStatus"] == "COMPLETED" and again["TotalFailures"] == 0
    copy = endpoint(pinpoint, other, "rt0000004")
    assert copy["Attributes"] == {"n": ["4"]} and copy["ApplicationId"] == other


def test_an_imported_segment_can_be_the_source_of_another_segment(server, pinpoint, app_id, tmp_path):
    rows = [{**r, "Attributes": {"plan": ["pro" if i % 2 else "free"]}} for i, r in enumerate(minimal_rows(10, "src"))]
    job = imported(pinpoint, app_id, write_lines(tmp_path / "src.json", rows), DefineSegment=True)
    add_endpoints(pinpoint, app_id, 5, prefix="outsider", extra=lambda i: {"Attributes": {"plan": ["pro"]}})
    source = {"Id": job["Definition"]["SegmentId"]}
    pro = {"Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    segment = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "imported pros", "SegmentGroups": {
            "Include": "ALL", "Groups": [{"SourceSegments": [source], "Dimensions": [pro]}],
        }},
    )["SegmentResponse"]  # fmt: skip
    preview = server.tidings("segments", "preview", app_id, segment["Id"], "--output", "json", "--limit", "10", cwd=tmp_path)
    found = json.loads(preview.stdout)
    assert found["Count"] == 5 and {e["Id"] for e in found["Endpoints"]} == {r["Id"] for r in rows[1::2]}

    near = {"Location": {"GPSPoint": {"Coordinates": {"Latitude": 1.0, "Longitude": 2.0}}}}
    refused(
        lambda: pinpoint.create_segment(
            ApplicationId=app_id,
            WriteSegmentRequest={"Name": "either", "SegmentGroups": {
                "Include": "ANY", "Groups": [{"SourceSegments": [source]}, {"Dimensions": [near]}],
            }},
        ),  # fmt: skip
        "WriteSegmentRequest.SegmentGroups",
        "GPSPoint",
    )


def test_a_user_keeps_at_most_15_endpoints_through_imports(pinpoint, app_id, tmp_path):
    stored = [{"Id": f"old{i}", "ChannelType": "GCM", "Address": f"t{i}", "User": {"UserId": "pat"},
               "EffectiveDate": f"2026-01-{i + 1:02d}T00:00:00Z"} for i in range(10)]  # fmt: skip
    pinpoint.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": stored})
    rows = [
        *({"Id": f"sms{i}", "ChannelType": "SMS", "Address": f"+{i}", "User": {"UserId": "pat"}} for i in range(5)),
        {"Id": "sms-extra", "ChannelType": "SMS", "Address": "+99", "User": {"UserId": "pat"}},  # line 6: a 16th
        {"Id": "push-new", "ChannelType": "GCM", "Address": "t-new", "User": {"UserId": "pat"}},  # detaches old0
    ]
    job = imported(pinpoint, app_id, write_lines(tmp_path / "pat.json", rows))

    assert job["TotalFailures"] == 1 and job["Failures"][0].startswith("line 6: ")
    assert "at most 15" in job["Failures"][0] and "User.UserId" in job["Failures"][0]
    oldest = endpoint(pinpoint, app_id, "old0")
    assert oldest["EndpointStatus"] == "INACTIVE" and "UserId" not in oldest.get("User", {})
    mine = pinpoint.get_user_endpoints(ApplicationId=app_id, UserId="pat")["EndpointsResponse"]["Item"]
    assert len(mine) == 15 and "push-new" in {e["Id"] for e in mine}


def test_a_new_user_named_by_more_than_15_rows_of_a_file_keeps_the_first_15(pinpoint, app_id, tmp_path):
    rows = [{"Id": f"row{i:02d}", "ChannelType": "SMS", "Address": f"+{i}", "User": {"UserId": "kim"}} for i in range(17)]
    job = imported(pinpoint, app_id, write_lines(tmp_path / "kim.json", rows))

    assert job["TotalFailures"] == 2
    assert [f.split(":")[0] for f in job["Failures"]] == ["line 16", "line 17"]
    mine = pinpoint.get_user_endpoints(ApplicationId=app_id, UserId="kim")["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in mine) == [f"row{i:02d}" for i in range(15)]
