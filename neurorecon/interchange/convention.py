"""The one discretisation convention between NIR (continuous time) and Lava (discrete steps).

NIR's neurons (``nir/ir/neuron.py``)::

    CubaLIF  tau_syn dI/dt = -I + w_in S      tau_mem dv/dt = (v_leak - v) + r I    (CubaLI: no spikes)
    LIF      tau dv/dt = (v_leak - v) + r I                                        (LI: no spikes)
    IF       dv/dt = r I                                                            (I: no spikes)
    spike when v > v_threshold, then v = v_reset

neurorecon reads them with forward Euler at a step ``dt`` (default 1e-4 s, the NIR paper's and
snnTorch's), one Lava step per ``dt``, inputs taken as per-step values (a spike is 1 during its
step, not a Dirac area): exactly Norse's ``CubaLIF``/``LIFBox`` discretisation. IF and I have no
time constant: ``v += r I`` per step, as Sinabs, Norse and snnTorch read and write IF.

Lava's float LIF is ``u = u(1-du) + a;  v = v(1-dv) + u + bias``. Taking Lava's ``u`` as
``dv r I`` (NIR's current, scaled so that it enters v with coefficient 1) gives, per neuron::

    du = dt/tau_syn          (1 without a synapse: LIF, LI, IF, I)
    dv = dt/tau_mem          (dt/tau for LIF/LI; 0 for IF/I)
    gain = dv r du w_in      (LIF/LI: dv r; IF/I: r)      Lava weights = gain * Affine weights
    bias = dv (v_leak + r w_in b)                        (LIF/LI: dv (v_leak + r b); IF/I: r b)
    vth  = v_threshold

where ``b`` is the bias of the Affine node(s) feeding the neuron. The bias is exact when the
current does not decay across steps (du = 1); behind a synapse (du < 1) it enters the current
and reaches v through it, and the Lava bias equals its steady-state contribution: exact once
the transient ``(1-du)**t`` of the first steps has passed.

Export inverts it with ``gain = 1`` (Affine weights = Lava weights)::

    CubaLIF: tau_syn = dt/du, tau_mem = dt/dv, r = tau_mem/dt, w_in = tau_syn/dt,
             v_leak = bias tau_mem/dt, v_threshold = vth, v_reset = 0
    IF (layers with du = 1 and dv = 0 everywhere): r = 1, v_threshold = vth, Affine bias = bias

A layer with du = 0 (a current that never decays) or dv = 0 next to du < 1 has no NIR neuron
(that would need an infinite time constant) and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.readout import NON_SPIKING_VTH

DEFAULT_DT = 1e-4
CONVENTION = (
    "forward Euler at step dt, one Lava step per dt, per-step input values (Norse's CubaLIF); "
    "du=dt/tau_syn, dv=dt/tau_mem, weights*=dv*r*du*w_in, bias=dv*(v_leak+r*w_in*b), vth=v_threshold; "
    "IF: v+=r*I per step"
)
SPIKING = (nir.CubaLIF, nir.LIF, nir.IF)
NEURON_TYPES = (nir.CubaLIF, nir.CubaLI, nir.LIF, nir.LI, nir.IF, nir.I)


@dataclass(eq=False, frozen=True)
class LavaNeurons:
    """A NIR neuron node as Lava float parameters (per neuron), and how its inputs scale."""

    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias: np.ndarray  # from v_leak alone; add bias_gain * (incoming Affine bias)
    gain: np.ndarray  # multiplies row i of every weight matrix into this node
    bias_gain: np.ndarray
    bias_exact: bool  # False when an Affine bias meets a decaying current (steady state only)


def neuron_size(node: nir.NIRNode) -> int:
    """Number of neurons of a NIR neuron node (its parameter arrays' size)."""
    return int(np.asarray(node.r).size)


def _param(node: nir.NIRNode, name: str, n: int, where: str) -> np.ndarray:
    value = np.asarray(getattr(node, name), dtype=np.float64)
    if value.size == 1:
        value = np.full(n, value.reshape(-1)[0])
    value = value.reshape(-1)
    if value.size != n:
        raise NeuroreconError(f"{where}: {name} has {value.size} values for {n} neurons")
    if not np.all(np.isfinite(value)) and name not in ("tau", "tau_syn", "tau_mem"):
        raise NeuroreconError(f"{where}: {name} contains NaN or infinite values")
    return value


def _decay(tau: np.ndarray, dt: float, name: str, where: str) -> np.ndarray:
    if np.any(np.isnan(tau)) or np.any(tau <= 0):
        raise NeuroreconError(f"{where}: {name} must be positive (got {tau.min():g})")
    decay = dt / tau  # tau = inf gives 0: no decay
    if np.any(decay > 1 + 1e-9):
        raise NeuroreconError(
            f"{where}: {name}={tau.min():g} is shorter than dt={dt:g}; the Euler step would overshoot "
            "(Lava decays are fractions of at most 1): import with a smaller dt"
        )
    return np.minimum(decay, 1.0)


def lava_from_nir(node: nir.NIRNode, dt: float, where: str) -> LavaNeurons:
    """Lava float parameters of one NIR neuron node under the convention (module docstring)."""
    n = neuron_size(node)
    p = lambda name: _param(node, name, n, where)  # noqa: E731
    r = p("r")
    if isinstance(node, SPIKING):
        vth = p("v_threshold")
        v_reset = p("v_reset") if getattr(node, "v_reset", None) is not None else np.zeros(n)
        if np.any(v_reset != 0):
            raise NeuroreconError(
                f"{where}: v_reset={v_reset[v_reset != 0][0]:g}; Lava resets v to 0, so only v_reset=0 can be imported"
            )
    else:
        vth = np.full(n, NON_SPIKING_VTH)
    ones, zeros = np.ones(n), np.zeros(n)
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        du = _decay(p("tau_syn"), dt, "tau_syn", where)
        dv = _decay(p("tau_mem"), dt, "tau_mem", where)
        w_in, v_leak = p("w_in"), p("v_leak")
        return LavaNeurons(du, dv, vth, dv * v_leak, dv * r * du * w_in, dv * r * w_in, bool(np.all(du == 1)))
    if isinstance(node, (nir.LIF, nir.LI)):
        dv = _decay(p("tau"), dt, "tau", where)
        return LavaNeurons(ones, dv, vth, dv * p("v_leak"), dv * r, dv * r, True)
    if isinstance(node, (nir.IF, nir.I)):
        return LavaNeurons(ones, zeros, vth, zeros, r, r, True)
    raise NeuroreconError(f"{where}: {type(node).__name__} is not a neuron node")


def nir_from_lava(du: np.ndarray, dv: np.ndarray, vth: np.ndarray, bias: np.ndarray, dt: float, where: str):
    """The NIR neuron node for one Lava float layer, and the bias its Affine node must carry."""
    spiking = vth < NON_SPIKING_VTH
    if spiking.any() and not spiking.all():
        raise NeuroreconError(f"{where}: mixes spiking and non-spiking neurons, which no single NIR node can hold")
    spiking = bool(spiking.all())
    n = du.size
    if np.all(du == 1) and np.all(dv == 0):
        r = np.ones(n)
        node = nir.IF(r=r, v_threshold=vth.copy(), v_reset=np.zeros(n)) if spiking else nir.I(r=r)
        return node, bias.copy()
    if np.any(du == 0):
        raise NeuroreconError(
            f"{where}: du=0 (a current that never decays) needs tau_syn=inf, which NIR's CubaLIF cannot hold"
        )
    if np.any(dv == 0):
        raise NeuroreconError(
            f"{where}: dv=0 (no leak) behind a synapse (du<1) needs tau_mem=inf, which NIR's CubaLIF cannot hold; "
            "only layers with du=1 and dv=0 everywhere export (as IF)"
        )
    tau_syn, tau_mem = dt / du, dt / dv
    common = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=bias * tau_mem / dt, w_in=tau_syn / dt)
    node = nir.CubaLIF(v_threshold=vth.copy(), v_reset=np.zeros(n), **common) if spiking else nir.CubaLI(**common)
    return node, np.zeros(n)
