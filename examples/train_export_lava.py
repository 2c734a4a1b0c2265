"""Train -> export -> run on Lava: the main path, end to end, from Python.

Trains a seq-digits classifier for loihi2, writes a run directory, exports a standalone Lava
script, runs that script (plain Lava, Loihi2SimCfg fixed_pt) on test sequences and checks its
spikes against neurorecon's bit-exact emulator.

    .venv/bin/python examples/train_export_lava.py --out runs/example
    .venv/bin/python examples/train_export_lava.py --out /tmp/ex --quick
"""

import argparse
import subprocess
import sys

import numpy as np

import neurorecon as nr
from neurorecon.interchange import write_lava_script
from neurorecon.run import save_run
from neurorecon.train.pipeline import train_dataset

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/example", help="run directory to write")
parser.add_argument("--quick", action="store_true", help="fewer witnesses and samples")
parser.add_argument("--samples", type=int, default=20, help="test sequences to run on Lava")
args = parser.parse_args()

data = nr.load_data("seq-digits")
net, metrics, _ = train_dataset(data, method="cvx", profile="loihi2", readout="count",
                                n_witnesses=150 if args.quick else 1000,
                                column_generation_rounds=0 if args.quick else 1)
run = save_run(args.out, net, metrics)
print(f"trained {net.sizes}: test accuracy {metrics['test_accuracy']:.4f} (chip), wrote {run}")

script_dir = write_lava_script(net, run / "lava")
X = data.X_test[: 4 if args.quick else args.samples]
np.savez(run / "x.npz", X=X)
subprocess.run([sys.executable, str(script_dir / "run_network.py"), "--input", str(run / "x.npz"),
                "--out", str(run / "lava_out.npz"), "--steps", str(nr.readout_steps(net, X.shape[1])),
                "--record", "spikes,v"], check=True)  # per-step records only when asked: they cost

emulated = nr.simulate(net, X, n_steps=nr.readout_steps(net, X.shape[1]), record=("spikes", "v"))
with np.load(run / "lava_out.npz") as lava:
    for i in range(net.n_layers):
        equal = np.array_equal(lava[f"spikes_{i}"], emulated.spikes[i]) and np.array_equal(lava[f"v_{i}"], emulated.v[i])
        print(f"layer {i}: {int(emulated.spikes[i].sum())} spikes; Lava == emulator, every spike and voltage: {equal}")
        assert equal, f"layer {i} differs"
print(f"export: {script_dir}")
