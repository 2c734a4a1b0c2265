"""``neurorecon profiles``: list the hardware profiles with their key precisions and limits."""

from __future__ import annotations

from dataclasses import asdict

from neurorecon.cli import add_command
from neurorecon.cli._common import emit_json
from neurorecon.profiles import available_profiles, load_profile

EXAMPLES = """  neurorecon profiles
  neurorecon profiles --json
"""


def add_parser(sub) -> None:
    p = add_command(sub, "profiles", "list the hardware profiles with their precisions and limits", EXAMPLES)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    profiles = [load_profile(name) for name in available_profiles()]
    if args.json:
        emit_json(
            [
                {
                    "name": p.name,
                    "arithmetic": p.arithmetic,
                    "description": p.description,
                    "precision": asdict(p.precision) if p.precision else None,
                    "resources": asdict(p.resources),
                    "not_public": list(p.not_public),
                    "path": str(p.path),
                }
                for p in profiles
            ]
        )
        return 0
    header = f"{'profile':<8} {'arithmetic':<12} {'weights':<14} {'vth':<8} {'decay':<6} {'bias':<8} {'input':<8} {'neurons/core':>12} {'cores':>6}"
    print(header)
    print("-" * len(header))
    for p in profiles:
        r = p.resources
        if p.precision:
            q = p.precision
            weights = f"{q.weight_bits}b e[{q.weight_exp_min},{q.weight_exp_max}]"
            vth, decay = f"{q.threshold_bits}b<<{q.threshold_shift}", f"{q.decay_bits}b"
            bias = f"{q.bias_mant_bits}b<<{q.bias_exp_bits}b"
            payload = f"{q.input_payload_bits}b" if q.input_payload_bits else "spikes"
        else:
            weights = vth = decay = bias = payload = "float"
        estimate = "*" if "resources.neurons_per_core" in p.not_public else ""
        print(
            f"{p.name:<8} {p.arithmetic:<12} {weights:<14} {vth:<8} {decay:<6} {bias:<8} {payload:<8} "
            f"{str(r.neurons_per_core) + estimate:>12} {r.cores:>6}"
        )
    print("\n* not public; see the profile file's comments for the source of each value")
    return 0
