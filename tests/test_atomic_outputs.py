"""Outputs are written whole or not at all, and never over files neurorecon did not write.

Covers `export --lava` into foreign folders, retraining into an existing run (issue 14, items 1,
3 and 4), the report's all-or-nothing folder, and a full disk reported as one line.
"""

import errno
import json
import os

import numpy as np
import pytest
from clitools import assert_clean_failure, cli

import neurorecon as nr
from neurorecon._atomic import MARKER, DirectoryKind, atomic_directory, atomic_path
from neurorecon.errors import NeuroreconError
from neurorecon.run import SOLUTION_FILE, save_run

KIND = DirectoryKind("thing", frozenset({"a.txt"}), known=frozenset({"a.txt", "b.txt"}), reserved=frozenset({"cache"}))


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _write(folder, **files):
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.fixture
def net():
    rng = np.random.default_rng(0)
    return nr.Network([nr.LIFLayer(rng.integers(-100, 100, (6, 4)), du=10, dv=5, vth=20),
                       nr.LIFLayer(rng.integers(-100, 100, (2, 6)), du=4095, dv=0, vth=2**17 - 1)])


def test_a_foreign_folder_is_refused_untouched(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    _write(mine, **{"thesis.txt": "x", "a.txt": "mine too"})
    before = _tree(tmp_path)
    with pytest.raises(NeuroreconError, match="not written by neurorecon"):
        with atomic_directory(mine, KIND) as tmp:
            _write(tmp, **{"a.txt": "new"})
    assert _tree(tmp_path) == before and (mine / "a.txt").read_text() == "mine too"
    assert mine.stat().st_mode & 0o777 == 0o755


def test_replacing_keeps_foreign_files_and_drops_old_outputs(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target, KIND) as tmp:
        _write(tmp, **{"a.txt": "1", "b.txt": "1"})
    (target / "cache").mkdir()  # reserved: belongs to the old contents
    _write(target, **{"notes.txt": "keep me"})
    with atomic_directory(target, KIND) as tmp:
        _write(tmp, **{"a.txt": "2"})
    assert _tree(target) == sorted([MARKER, "a.txt", "notes.txt"])
    assert (target / "a.txt").read_text() == "2" and (target / "notes.txt").read_text() == "keep me"
    assert json.loads((target / MARKER).read_text()) == {"kind": "thing", "entries": ["a.txt"]}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary or old folder left


def test_a_failure_leaves_the_old_directory_whole(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target, KIND) as tmp:
        _write(tmp, **{"a.txt": "1"})
    with pytest.raises(RuntimeError):
        with atomic_directory(target, KIND) as tmp:
            _write(tmp, **{"a.txt": "2"})
            raise RuntimeError("late failure")
    assert (target / "a.txt").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_empty_folders_other_kinds_and_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with atomic_directory(tmp_path / "empty", KIND) as tmp:
        _write(tmp, **{"a.txt": "1"})
    assert (tmp_path / "empty" / "a.txt").is_file()
    other = DirectoryKind("other", frozenset({"a.txt"}))
    with pytest.raises(NeuroreconError, match="neurorecon thing directory"):
        with atomic_directory(tmp_path / "empty", other):
            pass
    monkeypatch.chdir(tmp_path / "empty")
    for path in (".", "..", ""):
        with pytest.raises(NeuroreconError):
            with atomic_directory(path, KIND):
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_export_lava_never_deletes_what_it_did_not_write(capsys, tmp_path, net, monkeypatch):
    run = save_run(tmp_path / "run", net, {"command": "test"})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("x")
    assert_clean_failure(cli(capsys, "export", run, "--lava", mine), "not written by neurorecon")
    assert _tree(mine) == ["thesis.txt"]
    before = _tree(run)
    assert_clean_failure(cli(capsys, "export", run, "--lava", run), "run directory")
    assert _tree(run) == before
    monkeypatch.chdir(mine)
    assert_clean_failure(cli(capsys, "export", run, "--lava", "."), "current folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "run"] and _tree(mine) == ["thesis.txt"]
    # an earlier export is replaced; a file the user put there is kept
    assert cli(capsys, "export", run, "--lava", tmp_path / "lava").code == 0
    (tmp_path / "lava" / "out.npz").write_bytes(b"user data")
    assert cli(capsys, "export", run, "--lava", tmp_path / "lava").code == 0
    assert (tmp_path / "lava" / "out.npz").read_bytes() == b"user data"
    assert (tmp_path / "lava" / "run_network.py").is_file()


def test_a_run_is_replaced_as_a_whole(tmp_path, net):
    run = tmp_path / "run"
    save_run(run, net, {"method": "cvx"}, {"W": np.ones((2, 3)), "intercept": np.zeros(2), "beta": 1.0, "penalty": "group"})
    (run / "exports").mkdir()
    (run / "exports" / "model.nir").write_text("old export")
    (run / "report").mkdir()
    (run / "my_notes.txt").write_text("keep")
    save_run(run, net, {"method": "sg"})
    assert sorted(p.name for p in run.iterdir()) == sorted([MARKER, "metrics.json", "network.h5", "my_notes.txt"])
    assert json.loads((run / "metrics.json").read_text()) == {"method": "sg"}
    assert not (run / SOLUTION_FILE).exists()


def test_a_run_written_before_markers_is_ours_a_foreign_folder_is_not(tmp_path, net):
    legacy = save_run(tmp_path / "legacy", net, {"v": 1})
    (legacy / MARKER).unlink()
    (legacy / "report").mkdir()
    save_run(legacy, net, {"v": 2})
    assert sorted(p.name for p in legacy.iterdir()) == sorted([MARKER, "metrics.json", "network.h5"])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "network.h5").write_text("my own file")
    with pytest.raises(NeuroreconError, match="not written by neurorecon"):
        save_run(foreign, net, {})
    assert (foreign / "network.h5").read_text() == "my own file"
    with pytest.raises(NeuroreconError, match="empty path"):
        save_run("", net, {})


def _full_disk(monkeypatch, name_fragment):
    """Make writes to files whose name contains ``name_fragment`` fail with ENOSPC."""
    real_open = open

    def fake_open(file, mode="r", *args, **kwargs):
        if name_fragment in os.fspath(file) and any(c in mode for c in "wax"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr("io.open", fake_open)  # how zipfile opens a path (numpy's savez writes .npz files by path)


def test_a_full_disk_is_one_line_and_leaves_no_partial_run(capsys, tmp_path, net, monkeypatch):
    run = tmp_path / "run"
    _full_disk(monkeypatch, "readout_solution")
    with pytest.raises(NeuroreconError, match="No space left on device"):
        save_run(run, net, {"a": 1}, {"W": np.ones((2, 3)), "intercept": np.zeros(2), "beta": 1.0, "penalty": "group"})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NeuroreconError, match="No space left on device"):
        with atomic_path(tmp_path / "readout_solution.npz") as tmp, open(tmp, "wb"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_a_failed_swap_puts_the_old_directory_back(tmp_path, monkeypatch):
    target = tmp_path / "out"
    with atomic_directory(target, KIND) as tmp:
        _write(tmp, **{"a.txt": "1"})
    real_replace = os.replace

    def fail_on_the_new_directory(src, dst):
        if ".out." in os.fspath(src) and ".old." not in os.fspath(src):
            raise OSError(errno.EIO, "I/O error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_the_new_directory)
    with pytest.raises(NeuroreconError, match="I/O error"):
        with atomic_directory(target, KIND) as tmp:
            _write(tmp, **{"a.txt": "2"})
    assert (target / "a.txt").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["out"]
