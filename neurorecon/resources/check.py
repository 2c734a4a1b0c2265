"""``check_resources``: map a Network onto a profile's cores and check its precision use."""

from __future__ import annotations

import os
from dataclasses import asdict

from neurorecon.errors import NeuroreconError
from neurorecon.network import Network
from neurorecon.profiles import Profile, load_profile
from neurorecon.resources.core_map import map_network
from neurorecon.resources.precision import format_violations, measure, static_precision
from neurorecon.resources.resource_report import SEVERITIES, ResourceReport
from neurorecon.simulate import check_input, readout_steps


def check_resources(net: Network, profile: str | os.PathLike | Profile, data=None) -> ResourceReport:
    """Map ``net`` onto ``profile``'s cores and report use, limits and violations.

    ``profile`` is a profile name, a TOML path or a loaded :class:`~neurorecon.profiles.Profile`.
    ``data`` (optional) is an input array (n_samples, T, n_inputs) as :func:`~neurorecon.simulate`
    takes it: the network is emulated on it for ``T + n_layers`` steps and the measured peaks of
    ``a_in``, ``u`` and ``v`` (and any wrap, saturation or readout spike) are reported.

    Precision is checked only for a fixed-point network against a ``loihi-fixed`` profile; a
    float profile (or a float network) gets the resource mapping alone. The check never raises
    for a network that does not fit: call :meth:`ResourceReport.raise_for_errors` for that.
    """
    if not isinstance(net, Network):
        raise NeuroreconError("check_resources() needs a neurorecon.Network")
    profile = load_profile(profile)
    x = None if data is None else check_input(net, data)
    layers, cores, violations = map_network(net, profile.resources)
    limits = asdict(profile.resources)
    notes = []
    if profile.not_public:
        notes.append(f"{profile.name} values not public, assumed as the profile file states: {', '.join(profile.not_public)}")
    quantized_for = net.metadata.get("profile")
    if quantized_for and quantized_for != profile.name:
        notes.append(f"the network was made for profile {quantized_for!r}, checked here against {profile.name!r}")

    samples = steps = 0
    q = profile.precision
    if q is not None and net.arithmetic == "fixed":
        limits.update(accumulator_bits=q.accumulator_bits, state_bits=q.state_bits)
        violations += format_violations(net, q)
        static, found = static_precision(net, q)
        violations += found
        if x is not None:
            vth_max = 2**q.threshold_bits - 1
            measured, found = measure(net, x, q, vth_max)
            violations += found
            for row, m in zip(static, measured):
                row.measured = m
            samples, steps = int(x.shape[0]), readout_steps(net, x.shape[1])
        for row, precision in zip(layers, static):
            row.precision = precision
    elif q is None:
        notes.append(f"{profile.name} is a float profile: resources only, no precision checks")
    else:
        notes.append("the network is in float arithmetic: quantize it (quantize_network) for the precision checks")
    if x is not None and not samples:
        notes.append("data was not used (precision is checked only for fixed-point networks on fixed profiles)")
    violations.sort(key=lambda v: SEVERITIES.index(v.severity))  # errors first, stable otherwise
    return ResourceReport(profile.name, limits, layers, cores, violations, notes, samples, steps)
