"""Accuracy against readout weight bits: quantization-aware vs plain rounding vs Lava truncation.

The hidden layers stay as trained; only the readout changes precision. Three ways to get a
``b``-bit readout from the same convex solution:

* ``quantization_aware``: :func:`fit_integer_readout` at ``b`` bits (scale and exponent chosen on
  the chip's exact scores, then integer coordinate descent on the convex objective);
* ``plain_rounding``: the same scale and exponent choice, rounded to the ``b``-bit grid, no
  refinement (what post-training quantization does);
* ``lava_truncation``: the trained 8-bit readout with ``num_weight_bits = b`` (Lava drops the
  low bits).
"""

from __future__ import annotations


from neurorecon.data.dataset import Dataset
from neurorecon.network import Network
from neurorecon.profiles import load_profile
from neurorecon.train.convex.integer_readout import fit_integer_readout
from neurorecon.train.pipeline import split_accuracy
from neurorecon.readout import Readout
from neurorecon.simulate import with_tail
from neurorecon.train.convex.reconstruct import hidden_raster

SWEEP_BITS = (2, 3, 4, 6, 8)


def readout_bit_sweep(net: Network, solution: dict, dataset: Dataset, bits: tuple[int, ...] = SWEEP_BITS) -> list[dict]:
    """Test accuracy (chip arithmetic) of a trained fixed-point classifier's readout at each width."""
    readout = Readout(net.metadata["readout"])
    profile = load_profile(net.metadata["profile"])
    hidden = list(net.layers[:-1])
    depth = len(hidden) - 1
    X_train = with_tail(net, dataset.X_train)
    t_frames = X_train.shape[1]
    raster = hidden_raster(hidden, X_train, "fixed")
    Y = readout.targets(dataset.y_train, int(dataset.y_train.max()) + 1)
    X_test, y_test = dataset.split("test")
    W, intercept = solution["W"], solution["intercept"]
    beta, penalty = float(solution["beta"]), str(solution["penalty"])
    standardize = bool(solution.get("standardize", False))  # runs written before it was an option: False

    def accuracy(layer) -> float:
        return split_accuracy(Network(hidden + [layer], "fixed", net.metadata), X_test, y_test)["accuracy"]

    rows = []
    for b in bits:
        fitted = {refine: fit_integer_readout(W, intercept, raster, Y, beta, penalty, readout, profile, t_frames,
                                              depth, weight_bits=b, refine=refine, standardize=standardize)[0]
                   for refine in (True, False)}
        rows.append({
            "weight_bits": b,
            "quantization_aware": accuracy(fitted[True]),
            "plain_rounding": accuracy(fitted[False]),
            "lava_truncation": accuracy(net.layers[-1].replace(num_weight_bits=b)),
        })
    return rows

