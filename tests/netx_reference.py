"""How lava-dl's netx loads a ``.net`` file of dense CUBA layers (test oracle only).

lava-dl cannot be installed here, so this re-derives, from its source, what
``lava.lib.dl.netx.hdf5.Network(path, input_message_bits=...)`` hands to Lava: for each layer,
the arguments of Lava's ``Dense`` (and of the recurrent ``Dense``) and ``LIF`` constructors.
:func:`lava_reference.run_processes` then runs those exactly as Lava would. It shares no code
with neurorecon (neither its netx reader nor its netx grid), so a file that neurorecon writes
and this oracle loads into the same spikes as neurorecon's emulator is evidence that netx
loads it so too. Source: github.com/lava-nc/lava-dl at d825ac5 (the archived HEAD; netx is
unchanged since release 0.6.0), files under ``src/lava/lib/dl/netx/``:

* ``utils.py`` ``NetDict.__getitem__`` (lines 59-74): ``type`` is the dataset's first element
  (or its scalar) decoded as ASCII; ``weight``, ``weight_rec`` and ``bias`` are read with
  ``.astype(int)`` (so a float file is truncated toward zero); ``shape``, ``iDecay``, ``vDecay``,
  ``vThMant`` and ``refDelay`` as stored; an integer key ``i`` opens the group ``str(i)``.
* ``hdf5.py`` ``Network._create`` (lines 566-689): layers ``0 .. len(layer)-1`` in that order;
  an ``input`` layer without ``neuron`` only sets the input shape (lines 596-597); ``dense`` and
  ``dense_rec`` layers become blocks (lines 638-663); the first block's input message bits are
  the constructor's ``input_message_bits``, each later block's are the previous block's output
  message bits (line 654).
* ``hdf5.py`` ``get_neuron_params`` (lines 140-163): a ``CUBA`` or ``LOIHI`` neuron is Lava's
  ``LIF`` with ``vth = vThMant``, ``du = iDecay - 1``, ``dv = vDecay``, ``bias_exp = 6`` (lines
  151-159; ``refDelay`` and ``gradedSpike`` are not read); its output message bits are 0 unless
  the file has ``messageBits`` (lines 141-146), which NetDict returns as a group wrapper rather
  than a number (it is in none of its key lists), so this oracle refuses such files.
* ``hdf5.py`` ``create_dense`` (lines 315-461): ``shape = (prod(shape),)`` (line 346); a 1-D
  weight is reshaped to ``(shape[0], -1)`` (lines 396-399); ``dense_rec`` rescales
  ``hstack(weight, weight_rec)`` as one matrix (lines 401-407), ``dense`` the weight alone
  (lines 409-411), with ``optimize_weight_bits``; ``bias`` is passed on (lines 451-452).
* ``utils.py`` ``optimize_weight_bits`` (lines 80-158): re-derived in :func:`rescale_weights`.
* ``blocks/process.py`` ``Dense`` (lines 141-197) and ``RecurrentDense`` (lines 232-306): Lava's
  ``Dense(weights, weight_exp, num_weight_bits, num_message_bits=input message bits)``, no
  ``sign_mode`` (Lava infers it from each Dense's weights); the recurrent Dense gets the same
  exponent, bits and message bits, from the block's own spikes back into its neurons;
  ``AbstractBlock._neuron`` (lines 53-72) passes the bias as ``bias_mant`` cast to int32.
"""

from __future__ import annotations

import h5py
import numpy as np

BIAS_EXP = 6  # hdf5.py line 158


class NetxRefused(ValueError):
    """A file netx would not load (it raises), or would load into something other than dense LIF layers."""


def rescale_weights(weights: np.ndarray) -> tuple[np.ndarray, int, int]:
    """netx's ``optimize_weight_bits`` (utils.py lines 80-158): (weights for Lava, num_weight_bits, weight_exp).

    netx scales the matrix up by a power of two ``2**shift`` so that its largest magnitude fills
    the 8-bit synapse (mixed signs: 127 up, 128 down, one bit of ``shift`` more for the sign;
    one sign: 255 or 256), sets ``weight_exp = -shift`` so that Lava scales it back down, and
    tells Lava to keep only the bits the matrix uses: ``num_weight_bits = 8 - shift - z``, where
    ``z`` counts the trailing zero bits every weight shares (at most 8; one less for mixed
    signs). Out-of-range mixed-sign matrices are first clipped to [-256, 254] (lines 101-112).
    """
    w = np.asarray(weights).astype(np.int64)
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:  # all inhibitory
        signed, room = 0, -256 / lo
    elif lo >= 0:  # all excitatory (an all-zero matrix divides by zero: netx fails)
        if hi == 0:
            raise NetxRefused("netx cannot rescale an all-zero weight matrix (it divides by the largest weight)")
        signed, room = 0, 255 / hi
    else:  # mixed (netx's test: a zero maximum with negative weights is mixed too)
        signed, room = 1, min(127 / hi if hi > 0 else np.inf, -128 / lo)
    shift = int(np.floor(np.log2(room))) + signed
    if shift < 0:
        raise NetxRefused(f"weights up to {max(hi, -lo)} do not fit netx's 8-bit synapse (it would shift them away)")
    z = next((k for k in range(8, 0, -1) if not np.any(w % (1 << k))), 0)
    return w << shift, 8 - shift - (z - signed), -shift


def _text(dataset: h5py.Dataset) -> str:
    value = dataset[0] if dataset.shape else dataset[()]
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def netx_processes(path, input_message_bits: int = 0) -> list[dict]:
    """The Lava arguments netx builds from the ``.net`` file ``path``: per layer ``dense``,
    ``rec`` (None for ``dense``) and ``lif``, as :func:`lava_reference.run_processes` takes them."""
    layers = []
    message_bits = input_message_bits
    with h5py.File(path, "r") as f:
        group = f["layer"]
        for i in range(len(group)):
            g = group[str(i)]
            kind = _text(g["type"])
            if kind == "input":
                if "neuron" in g:
                    raise NetxRefused("an input layer with neurons: netx builds an Input block, not modelled here")
                continue
            if kind not in ("dense", "dense_rec"):
                raise NetxRefused(f"layer {i} is {kind!r}; this oracle models dense and dense_rec layers")
            if "delay" in g:
                raise NetxRefused(f"layer {i} has delays; this oracle models Dense without delays")
            neuron = g["neuron"]
            if "messageBits" in neuron:
                raise NetxRefused(f"layer {i} sets messageBits, which netx does not read as a number")
            if _text(neuron["type"]) not in ("CUBA", "LOIHI"):
                raise NetxRefused(f"layer {i} has {_text(neuron['type'])!r} neurons; this oracle models LIF")
            n = int(np.prod(g["shape"][()]))
            parts = [g["weight"][()].astype(int)] + ([g["weight_rec"][()].astype(int)] if kind == "dense_rec" else [])
            parts = [p.reshape(n, -1) if p.ndim == 1 else p for p in parts]
            stored, bits, exp = rescale_weights(np.hstack(parts))
            split = parts[0].shape[1]
            common = dict(weight_exp=exp, num_weight_bits=bits, sign_mode=None, num_message_bits=message_bits)
            lif = dict(shape=(n,), du=neuron["iDecay"][()] - 1, dv=neuron["vDecay"][()], vth=neuron["vThMant"][()],
                       bias_exp=BIAS_EXP)
            if "bias" in g:
                lif["bias_mant"] = g["bias"][()].astype(int).astype(np.int32)
            layers.append(dict(dense=dict(weights=stored[:, :split], **common), lif=lif,
                               rec=dict(weights=stored[:, split:], **common) if kind == "dense_rec" else None))
            message_bits = 0  # the block's output_message_bits (no messageBits)
    return layers
