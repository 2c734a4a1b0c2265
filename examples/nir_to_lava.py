"""Import a Norse/Rockpool NIR graph -> quantize for loihi2 -> run on Lava and on the emulator.

    .venv/bin/python examples/nir_to_lava.py ../shared/data/nir/lif_rockpool.nir
    .venv/bin/python examples/nir_to_lava.py ../shared/data/nir/braille_noDelay_bias_zero.nir --quick
"""

import argparse
import warnings

import numpy as np

import neurorecon as nr

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("graph", help="a .nir file")
parser.add_argument("--dt", type=float, default=1e-4, help="discretisation step in seconds (default 1e-4)")
parser.add_argument("--quick", action="store_true", help="fewer samples and steps")
args = parser.parse_args()

net_float = nr.from_nir(args.graph, profile="float", dt=args.dt)
print(f"imported {args.graph}: layers {net_float.sizes}, inputs {net_float.n_inputs}")

rng = np.random.default_rng(0)
samples, steps = (4, 20) if args.quick else (16, 100)
X = (rng.random((samples, steps, net_float.n_inputs)) < 0.3).astype(np.uint8)

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    net_fixed, report = nr.quantize_network(net_float, "loihi2", data=X)
for w in caught:
    print("quantization warning:", w.message)
for i, layer in enumerate(report.layers):
    print(f"layer {i}: scale {layer.scale:.4g}, relative weight error {layer.errors['weights']:.2e}")

for name, net in (("float", net_float), ("loihi2 fixed", net_fixed)):
    emulated = nr.simulate(net, X, backend="emulator")
    lava = nr.simulate(net, X, backend="lava")
    spikes = [int(s.sum()) for s in emulated.spikes]
    agree = all(np.array_equal(a, b) for a, b in zip(emulated.spikes, lava.spikes))
    print(f"{name}: spikes per layer {spikes}; Lava == emulator spike for spike: {agree}")
    assert agree
