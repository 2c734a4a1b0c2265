"""Every example runs (reduced size) so that none of them rots."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NIR = ROOT.parent / "shared" / "data" / "nir"


def run_example(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_every_example_is_covered():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == [
        "estimator_api.py", "nir_to_lava.py", "train_export_lava.py"]


def test_estimator_api():
    out = run_example("examples/estimator_api.py", "--quick")
    assert "solver vs chip predictions (training set): 0 differences" in out
    assert "pipeline delay: True" in out and "a scikit-learn estimator: True" in out
    assert "classes: ['differ' 'equal']" in out


def test_train_export_lava(tmp_path):
    out = run_example("examples/train_export_lava.py", "--quick", "--out", str(tmp_path / "run"))
    assert out.count("every spike and voltage: True") == 2
    assert (tmp_path / "run" / "lava" / "run_network.py").is_file()


@pytest.mark.parametrize("graph", ["lif_norse.nir", "braille_noDelay_bias_zero.nir"])
def test_nir_to_lava(graph):
    out = run_example("examples/nir_to_lava.py", str(NIR / graph), "--quick")
    assert "loihi2 fixed: spikes per layer" in out and "spike for spike: True" in out
