"""file:// confinement (tidings.jobs.files) on a real file system: links, '..', and a
directory swapped for a link between the check and the open."""

from __future__ import annotations

import os

import pytest

from tidings.jobs.files import Outside, confine, fresh_directory, open_for_reading, roots_of


@pytest.fixture
def tree(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    (root / "data" / "rows.json").write_text("inside\n")
    (outside / "secret.txt").write_text("CONTENT-OF-THE-SECRET\n")
    return str(root), outside


def test_a_file_inside_is_opened(tree):
    root, _ = tree
    found_root, real = confine(f"{root}/data/rows.json", (root,), "S3Url")
    with open_for_reading(found_root, real, 4096) as stream:
        assert stream.read() == b"inside\n"


def test_a_link_inside_the_root_to_a_file_inside_is_fine(tree):
    root, _ = tree
    os.symlink(f"{root}/data/rows.json", f"{root}/alias.json")
    found_root, real = confine(f"{root}/alias.json", (root,), "S3Url")
    assert real == f"{root}/data/rows.json"


@pytest.mark.parametrize("how", ["file link", "directory link", "dotdot", "absolute"])
def test_ways_out_are_refused(tree, how):
    root, outside = tree
    if how == "file link":
        os.symlink(outside / "secret.txt", f"{root}/data/x.txt")
        path = f"{root}/data/x.txt"
    elif how == "directory link":
        os.symlink(outside, f"{root}/data/out")
        path = f"{root}/data/out/secret.txt"
    elif how == "dotdot":
        path = f"{root}/data/../../outside/secret.txt"
    else:
        path = str(outside / "secret.txt")
    with pytest.raises(Outside) as caught:
        confine(path, (root,), "S3Url")
    assert path in caught.value.message and "CONTENT-OF-THE-SECRET" not in caught.value.message


def test_no_roots_refuses_everything(tree):
    root, _ = tree
    with pytest.raises(Outside, match="--files-root"):
        confine(f"{root}/data/rows.json", (), "S3Url")


def test_a_directory_swapped_for_a_link_after_the_check_is_not_followed(tree):
    root, outside = tree
    found_root, real = confine(f"{root}/data/rows.json", (root,), "S3Url")
    os.rename(f"{root}/data", f"{root}/old")
    os.symlink(outside, f"{root}/data")
    (outside / "rows.json").write_text("secret\n")
    with pytest.raises(OSError):
        open_for_reading(found_root, real, 4096)
    with pytest.raises(OSError), fresh_directory(found_root, f"{root}/data", "job"):
        pass
    assert not (outside / "job").exists()


def test_a_sibling_with_the_root_as_prefix_is_outside(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root-other").mkdir()
    with pytest.raises(Outside):
        confine(str(tmp_path / "root-other" / "x"), (str(tmp_path / "root"),), "S3Url")


def test_several_roots_and_a_missing_one(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert roots_of(f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}") == (str(tmp_path / "a"), str(tmp_path / "b"))
    with pytest.raises(ValueError, match="not a directory"):
        roots_of(str(tmp_path / "missing"))
