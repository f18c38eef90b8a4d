"""Uploaded archives: zip-slip, links out of the package and oversize archives are refused."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from tests.zips import zip_files
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
