"""Resource check: map a Network onto a hardware profile's cores; report use, limits and violations.

Public API: :func:`check_resources` returns a :class:`ResourceReport` (per-layer
:class:`LayerUsage` rows, a core map of :class:`CoreUse`, :class:`Violation` s with severity
``"error"`` -- it cannot be mapped -- or ``"warning"`` -- it maps, but the chip would saturate
or wrap). ``report.raise_for_errors()``, ``to_dict()`` / ``from_dict()``, ``to_text()``.

Resource model (Loihi 1 as nengo-loihi builds it; the Loihi 2 profile assumes the same
limits, marked not public; research notes ``hardware_and_peers.md`` A.1-A.3):

* **Mapping policy.** A core holds neurons of one layer only. Each layer is packed greedily:
  its neurons are taken configuration group by group (each group in index order) and a core
  is filled up to the most neurons every per-core limit allows; a new core starts when it is
  full or a further group would exceed the configurations per core. Greedy packing of one
  ordered sequence is optimal for it; grouping first keeps configurations per core minimal.
  Layers are packed last to first because output axons depend on the next layer's cores.
  The core map gives each core's neuron index ranges and configuration ids.
* **Neuron configuration** = a distinct ``(du, dv, vth)``, the unit Lava shares per LIF
  process (``LIFLayer.groups()``). On Loihi 1 the decays live in one of 32 compartment
  profiles per core (``cxProfileCfg``: decayU, decayV, refractDelay, enableNoise) and vth in a
  separate table of 8 (nengo-loihi builder) to 16 (validator) entries; bias mantissa and
  exponent are per compartment (``cxCfg``: bias, biasExp, vthProfile, cxProfile) and do not
  count (nengo-loihi ``hardware/builder.py``, ``allocators.py``, ``validate.py``). Counting the
  triple against ``neuron_configs_per_core`` is exact for Lava's view and conservative for
  the compartment-profile table; the smaller Loihi 1 vth table is not checked separately
  (the profile has no field for it).
* **Input axons** per core = the layer's inputs (+ its own neurons when recurrent): every core
  of a layer receives all of them, so a fan-in beyond the limit is an error no split fixes.
* **Output axons** per core = neurons on the core x cores each neuron sends to (the next
  layer's cores, + its own layer's cores when recurrent): Loihi 1 discrete axons, one per
  (source neuron, destination core) (nengo-loihi ``Axon.axon_slots``). The last layer is read
  by the host and uses none. Loihi 2's population/multicast axons could do better.
* **Synapse memory** per core = for each input axon, its synapses onto the core's neurons,
  stored **dense** (zeros included: ``Dense`` is a dense matrix and nengo-loihi stores dense
  weights with ``compression=3``) in entries of up to 64 synapses with a 10-bit header,
  rounded up to 64-bit words (nengo-loihi ``SynapseConfig.bits_per_axon``). A synapse takes
  Loihi's weight field, the smallest of {1,...,6, 8} bits >= ``num_weight_bits``, the sign
  included for mixed-sign weights (Lava ``truncate_weights`` drops their LSB instead). Rows
  also give the non-zero synapse count, so the gain of a sparse format can be judged.
* **Precision** (fixed-point network on a ``loihi-fixed`` profile): see
  :mod:`neurorecon.resources.precision`. A possible ``a_in`` overflow of the 16-bit
  accumulator is a warning; u/v static bounds are reported as margins only (worst cases over
  all inputs, often loose); with data, measured wraps, saturations and readout spikes are
  warnings.
"""

from neurorecon.resources.check import check_resources
from neurorecon.resources.resource_report import CoreUse, LayerPrecision, LayerUsage, Measured, ResourceReport, Violation

__all__ = ["CoreUse", "LayerPrecision", "LayerUsage", "Measured", "ResourceReport", "Violation", "check_resources"]
