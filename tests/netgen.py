"""Random Networks that exercise every corner of the arithmetic (test helper)."""

from __future__ import annotations

import numpy as np

import neurorecon as nr

DECAYS = (0, 1, 4095)


def _decays(rng, n, groups):
    choices = [int(rng.choice(DECAYS)) if rng.random() < 0.6 else int(rng.integers(0, 4096)) for _ in range(groups)]
    return np.asarray(choices)[rng.integers(0, groups, n)]


def _weights(rng, shape, kind, big):
    magnitude = 400 if big else 255
    w = rng.integers(-magnitude, magnitude + 1, shape)
    if kind == "excitatory":
        w = np.abs(w)
    elif kind == "inhibitory":
        w = -np.abs(w)
    return w


def random_fixed_network(rng: np.random.Generator, graded: bool = False) -> nr.Network:
    n_layers = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 13))] + [int(rng.integers(1, 17)) for _ in range(n_layers)]
    layers = []
    for i in range(n_layers):
        n_in, n = sizes[i], sizes[i + 1]
        groups = int(rng.integers(1, 4))
        vth_choices = np.asarray([int(rng.choice([0, 1, int(rng.integers(2, 2000)), 2**17 - 1])) for _ in range(groups)])
        recurrent = None
        if rng.random() < 0.3:
            recurrent = nr.Dense(_weights(rng, (n, n), "mixed", False), weight_exp=int(rng.integers(-3, 4)),
                                 num_weight_bits=int(rng.integers(1, 9)))
        layers.append(
            nr.LIFLayer(
                weights=_weights(rng, (n, n_in), rng.choice(["mixed", "excitatory", "inhibitory"]), rng.random() < 0.3),
                du=_decays(rng, n, groups),
                dv=_decays(rng, n, groups),
                vth=vth_choices[rng.integers(0, groups, n)],
                bias_mant=rng.integers(-4096, 4096, n) if rng.random() < 0.5 else 0,
                bias_exp=rng.integers(0, 8, n) if rng.random() < 0.5 else int(rng.integers(0, 8)),
                weight_exp=int(rng.integers(-3, 4)),
                num_weight_bits=int(rng.integers(1, 9)),
                num_message_bits=(4 if graded and i == 0 else 0),
                recurrent=recurrent,
            )
        )
    return nr.Network(layers, arithmetic="fixed")


def random_input(rng: np.random.Generator, net: nr.Network, n: int, t: int) -> np.ndarray:
    density = float(rng.choice([0.05, 0.5, 0.9]))
    x = (rng.random((n, t, net.n_inputs)) < density).astype(np.int64)
    bits = net.layers[0].num_message_bits
    if bits:
        x *= rng.integers(1, 2**bits, x.shape)
    return x


def random_float_network(rng: np.random.Generator) -> nr.Network:
    n_layers = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 13))] + [int(rng.integers(1, 17)) for _ in range(n_layers)]
    layers = []
    for i in range(n_layers):
        n_in, n = sizes[i], sizes[i + 1]
        groups = int(rng.integers(1, 3))
        du = rng.choice([0.0, 1.0, rng.random()], groups)[rng.integers(0, groups, n)]
        dv = rng.choice([0.0, 1.0, rng.random()], groups)[rng.integers(0, groups, n)]
        vth = rng.choice([0.5, 1.0, 2.0], groups)[rng.integers(0, groups, n)]
        recurrent = nr.Dense(rng.normal(0, 0.5, (n, n))) if rng.random() < 0.3 else None
        layers.append(
            nr.LIFLayer(rng.normal(0, 1.0, (n, n_in)), du=du, dv=dv, vth=vth,
                        bias_mant=rng.normal(0, 0.1, n), recurrent=recurrent)
        )
    return nr.Network(layers, arithmetic="float")


def mixed_network(seed: int) -> nr.Network:
    """A seeded fixed-point 28 -> 64 -> 10 network with mixed time constants (several Lava processes)."""
    rng = np.random.default_rng(seed)
    hidden = nr.LIFLayer(
        weights=rng.integers(-128, 128, (64, 28)) * 2,
        du=rng.choice([409, 1024, 4095], 64),
        dv=rng.choice([204, 512], 64),
        vth=300,
        bias_mant=rng.integers(-64, 64, 64),
        bias_exp=3,
    )
    readout = nr.LIFLayer(weights=rng.integers(-64, 64, (10, 64)) * 2, du=4095, dv=0, vth=2**17 - 1, weight_exp=-2)
    return nr.Network([hidden, readout], arithmetic="fixed", metadata={"name": "mixed-random"})
