"""Hardware profiles: one TOML file per chip in the top-level ``hardware_profiles/`` folder.

A profile names the arithmetic (``loihi-fixed`` or ``float``), the chip's precisions and its
resources; every value in the shipped files cites its source in a comment, and values that are
not public are listed in ``not_public``. :func:`load_profile` validates a file strictly: unknown
keys, missing keys and out-of-range values are clear errors.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from neurorecon.errors import NeuroreconError

ARITHMETICS = {"loihi-fixed": "fixed", "float": "float"}
PROFILE_DIR_ENV = "NEURORECON_PROFILES"


@dataclass(frozen=True)
class Precision:
    """Bit widths of the chip's integer arithmetic (SPEC section 3)."""

    weight_bits: int
    weight_exp_min: int
    weight_exp_max: int
    threshold_bits: int
    threshold_shift: int
    decay_bits: int
    bias_mant_bits: int
    bias_exp_bits: int
    state_bits: int
    accumulator_bits: int
    input_payload_bits: int
    delay_bits: int

    @property
    def max_delay(self) -> int:
        """The longest synaptic delay the profile holds, in steps (0: none)."""
        return 2**self.delay_bits - 1


@dataclass(frozen=True)
class Resources:
    """Per-chip and per-core limits used by the resource check."""

    neurons_per_core: int
    cores: int
    input_axons_per_core: int
    output_axons_per_core: int
    synapse_memory_bits_per_core: int
    neuron_configs_per_core: int


# Ranges a profile may take. Lava's fixed-point models fix some widths (decay 12, shift 6,
# state 24): the emulator implements exactly those, so a profile cannot change them.
PRECISION_RANGES = {
    "weight_bits": (1, 8),
    "weight_exp_min": (-8, 0),
    "weight_exp_max": (0, 7),
    "threshold_bits": (1, 17),
    "threshold_shift": (6, 6),
    "decay_bits": (12, 12),
    "bias_mant_bits": (1, 13),
    "bias_exp_bits": (0, 3),
    "state_bits": (24, 24),
    "accumulator_bits": (8, 32),
    "input_payload_bits": (0, 24),
    "delay_bits": (0, 6),  # Lava's DelayDense holds 6-bit delays (0..63 steps); 0: no synaptic delays
}
RESOURCE_RANGES = {f.name: (1, 2**40) for f in fields(Resources)}


@dataclass(frozen=True)
class Profile:
    """A validated hardware profile."""

    name: str
    arithmetic: str
    description: str
    precision: Precision | None
    resources: Resources
    not_public: tuple[str, ...]
    path: Path

    @property
    def network_arithmetic(self) -> str:
        """The Network arithmetic this profile's networks use: ``"fixed"`` or ``"float"``."""
        return ARITHMETICS[self.arithmetic]

    @property
    def is_fixed(self) -> bool:
        return self.arithmetic == "loihi-fixed"

    def with_weight_bits(self, bits: int) -> "Profile":
        """This profile with ``bits``-bit Dense weights (a chip configured with fewer synapse
        bits, as Lava's ``num_weight_bits``); a float profile is returned unchanged."""
        low, high = PRECISION_RANGES["weight_bits"]
        if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= high:
            raise NeuroreconError(f"weight bits must be in {low}..{high}; got {bits!r}")
        if not self.is_fixed:
            return self
        return replace(self, precision=replace(self.precision, weight_bits=bits))


def profile_dir() -> Path:
    """Folder of the shipped profiles (``$NEURORECON_PROFILES`` overrides it)."""
    override = os.environ.get(PROFILE_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parent.parent / "hardware_profiles"


def available_profiles() -> list[str]:
    """Names of the profiles in :func:`profile_dir`."""
    directory = profile_dir()
    return sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []


def load_profile(name_or_path: str | os.PathLike) -> Profile:
    """Load a profile by name (``"loihi2"``) or by path to a TOML file, validating it."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    candidate = Path(name_or_path)
    if candidate.is_dir():
        raise NeuroreconError(f"profile {candidate} is a folder; give a profile name or a .toml file")
    if candidate.suffix == ".toml" or candidate.is_file():
        path = candidate
    else:
        path = profile_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(available_profiles()) or "none found"
            raise NeuroreconError(f"unknown profile {str(name_or_path)!r}; available: {known}")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise NeuroreconError(f"profile file {path} does not exist") from None
    except OSError as exc:
        raise NeuroreconError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NeuroreconError(f"profile {path} is not valid TOML: {exc}") from None
    return _parse(data, path)


def _parse(data: dict, path: Path) -> Profile:
    where = f"profile {path.name}"
    top = {"name", "arithmetic", "description", "not_public", "precision", "resources"}
    _no_unknown(data, top, where)
    for key in ("name", "arithmetic", "description", "resources"):
        if key not in data:
            raise NeuroreconError(f"{where}: missing key {key!r}")
    arithmetic = data["arithmetic"]
    if arithmetic not in ARITHMETICS:
        raise NeuroreconError(f"{where}: arithmetic must be one of {sorted(ARITHMETICS)}; got {arithmetic!r}")
    if arithmetic == "loihi-fixed":
        if "precision" not in data:
            raise NeuroreconError(f"{where}: a loihi-fixed profile needs a [precision] table")
        precision = Precision(**_table(data["precision"], PRECISION_RANGES, f"{where} [precision]"))
        if precision.weight_exp_min > precision.weight_exp_max:
            raise NeuroreconError(f"{where}: weight_exp_min is above weight_exp_max")
    else:
        if "precision" in data:
            raise NeuroreconError(f"{where}: a float profile has no [precision] table")
        precision = None
    resources = Resources(**_table(data["resources"], RESOURCE_RANGES, f"{where} [resources]"))
    not_public = data.get("not_public", [])
    valid_keys = {f"resources.{k}" for k in RESOURCE_RANGES} | {f"precision.{k}" for k in PRECISION_RANGES}
    if not isinstance(not_public, list) or any(k not in valid_keys for k in not_public):
        raise NeuroreconError(f"{where}: not_public must list keys such as 'resources.cores'")
    if not isinstance(data["name"], str) or not isinstance(data["description"], str):
        raise NeuroreconError(f"{where}: name and description must be strings")
    if data["name"] != path.stem:  # runs record the name; a mismatch would make later commands load another profile
        raise NeuroreconError(f"{where}: its name {data['name']!r} must match its file name ({path.stem!r})")
    return Profile(data["name"], arithmetic, data["description"], precision, resources, tuple(not_public), path)


def _no_unknown(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise NeuroreconError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _table(table, ranges: dict[str, tuple[int, int]], where: str) -> dict[str, int]:
    if not isinstance(table, dict):
        raise NeuroreconError(f"{where} must be a table")
    _no_unknown(table, set(ranges), where)
    values = {}
    for key, (lo, hi) in ranges.items():
        if key not in table:
            raise NeuroreconError(f"{where}: missing key {key!r}")
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise NeuroreconError(f"{where}: {key} must be an integer; got {value!r}")
        if not lo <= value <= hi:
            raise NeuroreconError(f"{where}: {key}={value} is outside [{lo}, {hi}]")
        values[key] = value
    return values
