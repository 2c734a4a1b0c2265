"""Bad inputs to every entry point: one clear line on stderr, exit code 2, nothing written.

Issue 14's fuzz inputs, generated here (never stored): files that are not what they claim,
sizes that cannot fit in memory (checked before allocating), out-of-range numbers, corrupt model
and run files, and inputs that used to be accepted silently. Memory guards run under a low
``NEURORECON_MAX_MEMORY`` so that they do not depend on this machine's memory.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from clitools import cli

import neurorecon as nr
from neurorecon.profiles import profile_dir

TASK = ["first-last-xor", "--T", "6", "--n-train", "300", "--n-test", "100"]
QUICK = ["--witnesses", "80", "--rounds", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small trained run (cvx, with its readout solution) and its Lava export."""
    import neurorecon.cli as c

    root = tmp_path_factory.mktemp("fuzz")
    assert c.main(["train", *TASK, *QUICK, "--out", str(root / "run"), "--quiet"]) == 0
    assert c.main(["export", str(root / "run"), "--lava", str(root / "lava")]) == 0
    return root


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _npz_with_header(path: Path, shape, descr="|u1", payload=b"\0" * 64, name="X") -> None:
    with zipfile.ZipFile(path, "w") as z, z.open(f"{name}.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(payload)


def _zip_bomb(path: Path, n_bytes: int) -> None:
    """An .npz whose X declares and holds ``n_bytes`` zeros: tiny compressed, huge decompressed."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("X.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (n_bytes // 24, 6, 4)})
            chunk = b"\0" * 2**20
            for _ in range(n_bytes // 2**20):
                f.write(chunk)


def _edit_h5(src: Path, dst: Path, edit) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        edit(f)
    return dst


def _flip_a_weight_bit(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "r") as f:
        offset = f["layers/0/weights"].id.get_offset()
    data = bytearray(dst.read_bytes())
    data[offset] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def _x(n=5, T=6, d=4, high=2):
    return np.random.default_rng(0).integers(0, high, (n, T, d)).astype(np.uint8)


def _case(name: str, tmp: Path, trained: Path):
    """Build the inputs of case ``name`` in ``tmp``; return (command line, fragment of the message)."""
    run, model = trained / "run", trained / "run" / "network.h5"
    np.savez(tmp / "x.npz", X=_x())
    sim = ["simulate", model, "--input", tmp / "x.npz", "--out", tmp / "o.npz"]
    npy = tmp / "npy.npz"
    np.save(tmp / "a.npy", _x())
    os.replace(tmp / "a.npy", npy)
    if name.startswith("npy-"):
        command = {
            "npy-train": ["train", npy, "--out", tmp / "r"],
            "npy-simulate": ["simulate", model, "--input", npy, "--out", tmp / "o.npz"],
            "npy-evaluate": ["evaluate", run, npy],
            "npy-resources": ["resources", run, "--data", npy],
            "npy-import-nir": ["import-nir", tmp / "g.nir", "--out", tmp / "r", "--data", npy],
        }[name]
        return command, "single .npy array"
    if name == "random-bytes":
        (tmp / "rand.npz").write_bytes(np.random.default_rng(1).bytes(3000))
        return ["train", tmp / "rand.npz", "--out", tmp / "r"], "not a readable .npz file (not a zip archive)"
    if name == "folder-as-data":
        (tmp / "data").mkdir()
        return ["train", tmp / "data", "--out", tmp / "r"], "is a folder"
    if name == "pickled-array":
        np.savez(tmp / "p.npz", X=np.array([{"a": 1}], dtype=object))
        return ["simulate", model, "--input", tmp / "p.npz", "--out", tmp / "o.npz"], "pickled"
    if name == "npz-header-huge":
        _npz_with_header(tmp / "h.npz", (10**6,) * 3)
        return ["simulate", model, "--input", tmp / "h.npz", "--out", tmp / "o.npz"], "declares shape (1000000, 1000000, 1000000)"
    if name == "zip-bomb":
        _zip_bomb(tmp / "bomb.npz", 256 * 2**20)
        assert (tmp / "bomb.npz").stat().st_size < 2**20
        return ["simulate", model, "--input", tmp / "bomb.npz", "--out", tmp / "o.npz"], "256.0 MiB"
    if name == "spikes-too-long":
        np.savez(tmp / "long.npz", X_train=np.zeros((20, 100000, 2), np.uint8), y_train=np.arange(20) % 2)
        return ["train", tmp / "long.npz", "--out", tmp / "r", *QUICK], "of memory"
    if name == "steps-1e9":
        return [*sim, "--steps", "1000000000", "--record", "spikes,v"], "1000000000 steps"
    if name == "h5-huge-weights":
        def huge(f):
            del f["layers/0/weights"]
            f["layers/0"].create_dataset("weights", shape=(10**5, 10**5), dtype="i8")
        return ["simulate", _edit_h5(model, tmp / "huge.h5", huge), "--input", tmp / "x.npz", "--out", tmp / "o.npz"], "memory"
    if name == "nir-30000-inputs":
        n = 30000
        graph = nir.NIRGraph(nodes={"in": nir.Input(np.array([n])), "out": nir.Output(np.array([n])),
                                    "lif": nir.LIF(tau=np.full(n, 1e-2), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))},
                             edges=[("in", "lif"), ("lif", "out")])
        nir.write(tmp / "wide.nir", graph)
        return ["import-nir", tmp / "wide.nir", "--out", tmp / "r"], "30000 x 30000 identity"
    if name == "label-2^62":
        np.savez(tmp / "d.npz", X_train=_x(20), y_train=np.array([0, 1] * 9 + [0, 2**62]))
        return ["train", tmp / "d.npz", "--out", tmp / "r"], "labels must be 0..C-1"
    if name.startswith("negative-seed-"):
        method = name.removeprefix("negative-seed-")
        if method == "demo":
            return ["demo", "--seed", "-1", "--out", tmp / "r", "--witnesses", "20", "--rounds", "0"], "seed"
        return ["train", *TASK, *QUICK, "--method", method, "--seed", "-1", "--out", tmp / "r"], "seed must be"
    if name == "negative-data-seed":
        return ["train", *TASK, *QUICK, "--data-seed", "-1", "--out", tmp / "r"], "data seed"
    if name in ("schema-one", "metadata-null", "metadata-list"):
        value = {"schema-one": ("schema_version", "one"), "metadata-null": ("metadata", "null"),
                 "metadata-list": ("metadata", "[1, 2]")}[name]
        def edit(f):  # as another tool would write it: no checksum
            f.attrs[value[0]] = value[1]
            del f.attrs["sha256"]
        bad = _edit_h5(model, tmp / "m.h5", edit)
        return ["simulate", bad, "--input", tmp / "x.npz", "--out", tmp / "o.npz"], {
            "schema-one": "schema version 'one'", "metadata-null": "metadata is a JSON NoneType",
            "metadata-list": "metadata is a JSON list"}[name]
    if name == "flipped-bit":
        return ["simulate", _flip_a_weight_bit(model, tmp / "f.h5"), "--input", tmp / "x.npz", "--out", tmp / "o.npz"], "checksum"
    if name.startswith("report-"):
        copy = tmp / "run"
        shutil.copytree(run, copy)
        solution = copy / "readout_solution.npz"
        if name == "report-truncated-solution":
            solution.write_bytes(solution.read_bytes()[: solution.stat().st_size // 2])
            fragment = "readout_solution.npz"
        elif name == "report-no-beta":
            with np.load(solution) as s:
                arrays = {k: s[k] for k in s.files if k != "beta"}
            np.savez(solution, **arrays)
            fragment = "no array named beta"
        else:
            (copy / "metrics.json").write_text("[1, 2]")
            fragment = "JSON list"
        return ["report", copy, "--lava-samples", "0"], fragment
    if name == "profile-folder":
        (tmp / "board.toml").mkdir()
        return ["resources", run, "--profile", tmp / "board.toml"], "is a folder"
    if name == "profile-misnamed":
        shutil.copy(profile_dir() / "loihi1.toml", tmp / "mychip.toml")
        return ["train", *TASK, *QUICK, "--profile", tmp / "mychip.toml", "--out", tmp / "r"], "must match its file name"
    if name in ("all-zero-x", "all-one-x"):
        value = 0 if name == "all-zero-x" else 1
        np.savez(tmp / "c.npz", X_train=np.full((60, 6, 4), value, np.uint8), y_train=np.arange(60) % 2)
        return ["train", tmp / "c.npz", "--out", tmp / "r", *QUICK], f"X holds only {value}s"
    if name == "one-node-nir":
        nir.write(tmp / "one.nir", nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)))
        return ["import-nir", tmp / "one.nir", "--out", tmp / "r"], "single LIF node"
    if name == "forty-classes":
        np.savez(tmp / "d40.npz", X_train=_x(80), y_train=np.arange(80) % 40)
        return ["evaluate", run, tmp / "d40.npz"], "2 outputs"
    if name == "float-1e308":
        nr.Network([nr.LIFLayer(np.full((3, 4), 1e308), du=0.1, dv=0.1, vth=1.0)], arithmetic="float").save(tmp / "f.h5")
        return ["simulate", tmp / "f.h5", "--input", tmp / "x.npz", "--out", tmp / "o.npz"], "overflowed"
    if name == "rounds-negative":
        return ["train", *TASK, "--rounds", "-1", "--out", tmp / "r"], "--rounds"
    if name == "train-out-empty":
        return ["train", *TASK, *QUICK, "--out", ""], "empty path"
    if name == "simulate-out-empty":
        return [*sim[:-1], ""], "empty"
    if name == "simulate-overwrites-input":
        return [*sim[:-1], tmp / "x.npz"], "is the --input file"
    if name == "lava-timeout-zero":
        return [*sim, "--backend", "lava", "--lava-timeout", "0"], "--lava-timeout"
    raise AssertionError(name)


CASES = [
    "npy-train", "npy-simulate", "npy-evaluate", "npy-resources", "npy-import-nir", "random-bytes", "folder-as-data",
    "pickled-array", "npz-header-huge", "zip-bomb", "spikes-too-long", "steps-1e9", "h5-huge-weights",
    "nir-30000-inputs", "label-2^62", "negative-seed-cvx", "negative-seed-sg-cvx", "negative-seed-demo",
    "negative-data-seed", "schema-one", "metadata-null", "metadata-list", "flipped-bit", "report-truncated-solution",
    "report-no-beta", "report-list-metrics", "profile-folder", "profile-misnamed", "all-zero-x", "all-one-x",
    "one-node-nir", "forty-classes", "float-1e308", "rounds-negative", "train-out-empty", "simulate-out-empty",
    "simulate-overwrites-input", "lava-timeout-zero",
]


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, trained, monkeypatch, name):
    monkeypatch.setenv("NEURORECON_MAX_MEMORY", "128M")
    monkeypatch.chdir(tmp_path)
    command, fragment = _case(name, tmp_path, trained)
    before, run_before = _tree(tmp_path), _tree(trained)
    out = cli(capsys, *command)
    assert out.code == 2, (out.code, out.err)
    lines = [line for line in out.err.splitlines() if not line.startswith("[neurorecon]")]  # progress lines
    assert len(lines) == 1 and "Traceback" not in out.err, out.err
    assert fragment in lines[0], lines[0]
    assert _tree(tmp_path) == before and _tree(trained) == run_before


def _script(trained: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, trained / "lava" / "run_network.py", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_the_exported_script_refuses_npy_files_and_graded_payloads(tmp_path, trained):
    np.save(tmp_path / "a.npy", _x())
    os.replace(tmp_path / "a.npy", tmp_path / "npy.npz")
    np.savez(tmp_path / "graded.npz", X=_x(high=4))
    for given, fragment in (("npy.npz", "single .npy array"), ("graded.npz", "binary spikes")):
        done = _script(trained, "--input", tmp_path / given, "--out", tmp_path / "o.npz")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and fragment in done.stderr, done.stderr
    assert not (tmp_path / "o.npz").exists()


def test_a_closed_pipe_ends_quietly(trained):
    """`neurorecon resources RUN | head -1`: no BrokenPipeError traceback."""
    producer = subprocess.Popen([sys.executable, "-m", "neurorecon", "resources", trained / "run"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    producer.stdout.close()  # the reader is gone before the first line
    _, err = producer.communicate(timeout=300)
    assert b"Traceback" not in err and err == b"", err
    assert producer.returncode == 141


def test_a_checksum_is_stored_and_checked(tmp_path, trained):
    model = trained / "run" / "network.h5"
    with h5py.File(model) as f:
        assert len(f.attrs["sha256"]) == 64
    assert nr.Network.load(model).equals(nr.Network.load(shutil.copy(model, tmp_path / "copy.h5")))
    with pytest.raises(nr.NeuroreconError, match="checksum"):
        nr.Network.load(_flip_a_weight_bit(model, tmp_path / "flipped.h5"))
