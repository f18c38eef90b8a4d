"""The import reader: chunks of prepared rows, read by one helper or by several lanes."""

from __future__ import annotations

import json

import pytest

from tidings.jobs import reader
from tidings.jobs.sources import LINE_LIMIT
from tidings.wire import shapes
from tidings.wire.model import load_service_model

ITEM = load_service_model("pinpoint", "2016-12-01").shape_for("EndpointBatchItem")
CHECK = shapes.checker(ITEM)
TREE = shapes.tree(ITEM)


def _task(path, lane: int = 0, lanes: int = 1, offset: int = 0, line: int = 0) -> dict:
    task = reader.task_for(
        {"name": path.name, "path": str(path)}, fmt="JSON", offset=offset, line=line, header=None,
        app_id="app", job_id="job", filters={}, files_roots=(str(path.parent),), allow_loopback=False,
    )  # fmt: skip
    return {**task, "lane": lane, "lanes": lanes}


def _row(i: int) -> str:
    return json.dumps({"Id": f"e{i}", "ChannelType": "SMS", "Address": f"+{i}", "Attributes": {f"a{i % 3}": ["v"]}})


def _seen(chunk: tuple) -> tuple:
    """What a chunk says, without what each reader draws afresh (dates, cohorts)."""
    rows, errors, offset, line, header, names = chunk
    return [(r[0], r[1], r[3], r[4] if type(r[4]) is str else r[4][:5]) for r in rows], errors, offset, line, names


@pytest.fixture
def mixed_file(tmp_path):
    """Good rows, blank lines, refused rows and an over-long line, with a byte order mark."""
    lines = ["\ufeff" + _row(0)]
    for i in range(1, 40):
        lines.append(_row(i))
        if i % 7 == 0:
            lines.append("   ")
        if i % 11 == 0:
            lines.append('{"Id": "bad$"}')
        if i % 13 == 0:
            lines.append("{not json")
    lines.insert(20, '{"Id": "long", "Address": "' + "x" * LINE_LIMIT + '"}')
    path = tmp_path / "rows.json"
    path.write_text("\n".join(lines) + "\n\n")
    return path, lines


@pytest.mark.parametrize("lanes", [2, 3])
def test_lanes_prepare_the_chunks_one_reader_would(mixed_file, monkeypatch, lanes):
    mixed_file, lines = mixed_file
    monkeypatch.setattr(reader, "CHUNK_ROWS", 6)
    alone = [_seen(c) for c in reader.chunks(_task(mixed_file), CHECK, TREE)]
    by_lane = [[_seen(c) for c in reader.chunks(_task(mixed_file, lane, lanes), CHECK, TREE)] for lane in range(lanes)]
    interleaved = [by_lane[i % lanes][i // lanes] for i in range(sum(map(len, by_lane)))]

    assert interleaved == alone
    assert len(alone) > lanes  # every lane had several chunks
    errors = dict(e for chunk in alone for e in chunk[1])
    unreadable = [n for n, text in enumerate(lines, 1) if text == "{not json" or len(text) > LINE_LIMIT]
    assert sorted(errors) == unreadable
    assert "longer than 1024 KB" in errors[21]
    refused = [r[0] for chunk in alone for r in chunk[0] if type(r[3]) is str]
    assert refused == [n for n, text in enumerate(lines, 1) if "bad$" in text]
    assert alone[-1][2] == mixed_file.stat().st_size  # the last chunk ends at the end of the file


def test_a_lane_resumes_from_a_checkpoint_like_one_reader(mixed_file, monkeypatch):
    mixed_file, _ = mixed_file
    monkeypatch.setattr(reader, "CHUNK_ROWS", 5)
    _, _, offset, line, _ = _seen(next(iter(reader.chunks(_task(mixed_file), CHECK, TREE))))
    alone = [_seen(c) for c in reader.chunks(_task(mixed_file, offset=offset, line=line), CHECK, TREE)]
    lanes = [[_seen(c) for c in reader.chunks(_task(mixed_file, lane, 2, offset, line), CHECK, TREE)] for lane in (0, 1)]

    assert [c for pair in zip(*lanes, strict=False) for c in pair] + lanes[0][len(lanes[1]):] == alone


def test_prepared_rows_are_the_rows_the_store_writes(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(_row(5) + "\n")
    [(rows, errors, *_)] = list(reader.chunks(_task(path), CHECK, TREE))
    new = rows[0][reader.ROW.new]

    assert errors == [] and new[reader.NEW.app_id] == "app" and new[reader.NEW.id] == "e5"
    doc = json.loads(new[reader.NEW.doc])
    assert doc["Address"] == "+5" and doc["OptOut"] == "NONE" and doc["RequestId"] == "job"
    assert str(new[reader.NEW.cohort_id]) == doc["CohortId"]


def test_large_local_json_files_are_read_by_several_lanes(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    big.write_bytes(b"\n" * reader.LANE_MIN_BYTES)
    monkeypatch.setattr(reader.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5, 6, 7})

    assert reader.lanes_for({"path": str(big)}, "JSON", 0) == reader.MAX_LANES
    assert reader.lanes_for({"path": str(big)}, "CSV", 0) == 1  # CSV rows may span lines
    assert reader.lanes_for({"path": str(big)}, "JSON", 1) == 1  # what is left is small
    assert reader.lanes_for({"url": "https://example.com/x.json"}, "JSON", 0) == 1
    monkeypatch.setattr(reader.os, "sched_getaffinity", lambda _pid: {0})
    assert reader.lanes_for({"path": str(big)}, "JSON", 0) == 1


def test_a_prepared_endpoint_has_the_columns_the_store_writes_in_their_order():
    from tidings.store.imports import ENDPOINT_COLUMNS

    assert reader.NewEndpoint._fields == ENDPOINT_COLUMNS
