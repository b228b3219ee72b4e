"""auditor.atomic on the real filesystem: a file is replaced whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.atomic import replacing


class _RendererBroke(RuntimeError):
    pass


def _write_half_then_fail(path: Path) -> None:
    with replacing(path) as out:
        out.write(b"half of the new rep")
        raise _RendererBroke


def test_replaces_the_old_content(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(b"old")
    with replacing(path) as out:
        out.write(b"new")
        assert path.read_bytes() == b"old"  # not visible until the block ends
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    with replacing(path) as out:
        out.write(b"{}\n")
    assert path.read_bytes() == b"{}\n"


def test_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_bytes(b"the previous report")
    with pytest.raises(_RendererBroke):
        _write_half_then_fail(path)
    assert path.read_bytes() == b"the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_unwritable_folder_raises_oserror_and_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "report.json"
    with pytest.raises(FileNotFoundError), replacing(missing) as out:
        out.write(b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_in_the_way_leaves_no_temporary(tmp_path: Path) -> None:
    # The rename fails (a folder holds the name): the written temporary must go too.
    path = tmp_path / "out"
    path.mkdir()
    with pytest.raises(IsADirectoryError), replacing(path) as out:
        out.write(b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert path.is_dir()
