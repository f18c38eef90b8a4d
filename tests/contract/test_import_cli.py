"""`tidings import` against a live server: it creates the job, follows it, and exits 1 when
the job fails."""

from __future__ import annotations

from tests.jobs import minimal_rows, write_lines


def test_import_follows_the_job_and_defines_a_segment(server, pinpoint, app_id, tmp_path):
    path = write_lines(tmp_path / "people.json", [*minimal_rows(40, "cli"), {"ChannelType": "SMS"}])
    done = server.tidings("import", str(path), "--app", app_id, "--define-segment", "from the cli", "--url", server.url)

    assert done.returncode == 0, done.stderr
    assert "COMPLETED" in done.stdout and "41 rows processed, 1 refused" in done.stdout
    assert "line 41: Endpoint.Address is required" in done.stdout
    segment_id = done.stdout.split("Segment ")[-1].strip()
    segment = pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment_id)["SegmentResponse"]
    assert segment["Name"] == "from the cli" and segment["ImportDefinition"]["Size"] == 40


def test_import_reads_csv_by_its_suffix_and_exits_1_when_the_job_fails(server, app_id, tmp_path):
    good = tmp_path / "people.csv"
    good.write_text("Id,ChannelType,Address\nc1,SMS,+1\n")
    done = server.tidings("import", str(good), "--app", app_id, "--url", server.url)
    assert done.returncode == 0 and "COMPLETED, 1 rows processed" in done.stdout

    bad = tmp_path / "typo.csv"
    bad.write_text("Id,Channel\nc1,SMS\n")
    failed = server.tidings("import", str(bad), "--app", app_id, "--url", server.url)
    assert failed.returncode == 1 and "FAILED" in failed.stdout and "'Channel'" in failed.stdout

    unknown = server.tidings("import", str(good), "--app", "no-such-app", "--url", server.url)
    assert unknown.returncode == 1 and "no-such-app" in unknown.stderr
