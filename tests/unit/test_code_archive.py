"""Uploaded archives: zip-slip, links out of the package and oversize archives are refused."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile

import pytest

from tests.zips import with_bad_crc, zip_entries, zip_files
from tidings.domain.errors import InvalidInput, TooLarge
from tidings.functions import code
from tidings.functions.code import check_archive, unpack


@pytest.mark.parametrize(
    "name",
    ["../evil.py", "a/../../evil.py", "/etc/evil.py", "C:/evil.py", "..\\evil.py"],
)
def test_entries_outside_the_code_directory_are_refused(name):
    with pytest.raises(InvalidInput) as caught:
        check_archive(zip_files({"app.py": "x = 1", name: "boom"}))
    assert "outside the code directory" in caught.value.message


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "sub/../../x"])
def test_links_pointing_outside_are_refused(target):
    with pytest.raises(InvalidInput) as caught:
        check_archive(zip_files({"app.py": "x = 1"}, symlinks={"link": target}))
    assert "symbolic link" in caught.value.message


def test_links_inside_are_kept(tmp_path):
    package = check_archive(zip_files({"lib/real.py": "x = 1"}, symlinks={"alias.py": "lib/real.py"}))
    target = unpack(package.zip_bytes, tmp_path / "code")
    assert (target / "alias.py").is_symlink()
    assert (target / "alias.py").read_text() == "x = 1"


def test_not_a_zip():
    with pytest.raises(InvalidInput) as caught:
        check_archive(b"definitely not a zip")
    assert "Could not unzip" in caught.value.message


def test_zipped_size_limit(monkeypatch):
    monkeypatch.setattr(code, "MAX_ZIPPED_BYTES", 1000)
    with pytest.raises(TooLarge) as caught:
        check_archive(zip_files({"big.bin": os.urandom(5000)}))
    assert caught.value.code == "RequestEntityTooLargeException"
    assert "1000 bytes" in caught.value.message


def test_unzipped_size_limit_counts_the_declared_sizes():
    # 260 MB of zeros compresses to a few hundred KB: refused before anything is written.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros.bin", "w", force_zip64=True) as sink:
        chunk = bytes(1024 * 1024)
        for _ in range(260):
            sink.write(chunk)
    with pytest.raises(InvalidInput) as caught:
        check_archive(buffer.getvalue())
    assert "Unzipped size must be smaller than 262144000 bytes" in caught.value.message


def test_unpack_is_all_or_nothing(tmp_path):
    good = check_archive(zip_files({"app.py": "x = 1", "pkg/mod.py": "y = 2"}))
    target = unpack(good.zip_bytes, tmp_path / "code")
    assert (target / "pkg" / "mod.py").read_text() == "y = 2"
    with pytest.raises(InvalidInput):
        unpack(zip_files({"ok.py": "1", "../escape.py": "2"}), tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert not (tmp_path / "escape.py").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["code"]


# The reproduced chain: each link alone stays inside, together they reach the parent.
CHAIN = zip_entries(("a/b", "..", "link"), ("a/b/c", "..", "link"), ("c/x", "escaped", "file"))


@pytest.mark.parametrize(
    ("archive", "fragment"),
    [
        (CHAIN, "lies below 'a/b', which is a symbolic link"),
        # the same links, the deeper one first
        (zip_entries(("a/b/c", "..", "link"), ("a/b", "..", "link")), "names a path that another entry"),
        # links to links: each target inside, the last hop leaves
        (zip_entries(("up", "..", "link"), ("hop", "up/x", "link")), "outside the code directory"),
        (zip_entries(("d/up", "..", "link"), ("d/hop", "up/../x", "link")), "outside the code directory"),
        (zip_entries(("loop1", "loop2", "link"), ("loop2", "loop1", "link")), "outside the code directory"),
        (zip_entries(("lib", "/usr/lib", "link")), "outside the code directory"),
        # an entry written through a link, and a file used as a directory
        (zip_entries(("lib", "real", "link"), ("lib/x.py", "1", "file")), "which is a symbolic link"),
        (zip_entries(("f", "1", "file"), ("f/x.py", "1", "file")), "which is a file"),
        # two entries with one name (a file, then a link in its place), as a hard link would
        (zip_entries(("app.py", "x = 1", "file"), ("app.py", "/etc/passwd", "link")), "another entry"),
        (zip_entries(("app.py", "x = 1", "file"), ("./app.py", "x = 2", "file")), "another entry"),
        (zip_entries(("bad", "a\0b", "link")), "NUL"),
        (zip_entries(("bad", b"\xff\xfe", "link")), "not UTF-8"),
        (zip_entries(("bad", "", "link")), "empty target"),
    ],
)
def test_link_tricks_are_refused(tmp_path, archive, fragment):
    with pytest.raises(InvalidInput) as caught:
        check_archive(archive)
    assert fragment in caught.value.message
    # unpack refuses the same archive (one stored before these checks), and writes nothing
    with pytest.raises(InvalidInput):
        unpack(archive, tmp_path / "code" / "x")
    assert list((tmp_path / "code").iterdir()) == []
    assert not (tmp_path / "c").exists()


def test_a_link_entry_is_size_checked_before_it_is_read():
    # 64 MB of zeros compress to 64 KB; read whole, as a link target, they cost the memory.
    archive = zip_entries(("big", bytes(64 * 1024 * 1024), "link"))
    assert len(archive) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput) as caught:
            check_archive(archive)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "whose target is 67108864 bytes; a target has at most 4095" in caught.value.message
    assert peak < 4 * 1024 * 1024


def test_a_bad_crc_is_refused_at_upload():
    with pytest.raises(InvalidInput) as caught:
        check_archive(with_bad_crc(zip_entries(("app.py", "x = 1\n" * 100, "file"))))
    assert "'app.py' cannot be read" in caught.value.message


def test_links_that_stay_inside_work_as_in_node_modules(tmp_path):
    archive = zip_entries(
        ("node_modules/tool/cli.js", "run()", "file"),
        ("node_modules/.bin/tool", "../tool/cli.js", "link"),
        ("shared", "node_modules/tool", "link"),
        ("via", "shared/cli.js", "link"),  # a link through a link, still inside
        ("dangling", "not-there", "link"),
    )
    target = unpack(check_archive(archive).zip_bytes, tmp_path / "code")
    assert (target / "node_modules/.bin/tool").read_text() == "run()"
    assert (target / "via").read_text() == "run()"
    assert os.readlink(target / "dangling") == "not-there"
