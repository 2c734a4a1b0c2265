"""Hardware profiles: the shipped files, their sources, and strict validation."""

import re
import shutil

import pytest

import neurorecon as nr
from neurorecon.profiles import available_profiles, load_profile, profile_dir


def test_shipped_profiles_load():
    assert {"loihi1", "loihi2", "float"} <= set(available_profiles())
    loihi2 = load_profile("loihi2")
    assert loihi2.is_fixed and loihi2.network_arithmetic == "fixed"
    assert loihi2.precision.weight_bits == 8 and loihi2.precision.threshold_bits == 17
    assert loihi2.precision.input_payload_bits == 24
    loihi1 = load_profile("loihi1")
    assert loihi1.resources.neurons_per_core == 1024 and loihi1.precision.input_payload_bits == 0
    assert load_profile("float").precision is None


@pytest.mark.parametrize("name", ["loihi1", "loihi2", "float"])
def test_every_value_cites_a_source(name):
    text = (profile_dir() / f"{name}.toml").read_text()
    for line in text.splitlines():
        if re.match(r"^\s*[a-z_]+\s*=\s*-?\d", line):
            assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, f"no source for: {line}"
    profile = load_profile(name)
    for key in profile.not_public:
        field = key.split(".")[1]
        line = next(l for l in text.splitlines() if l.strip().startswith(field))
        assert "NOT PUBLIC" in line, f"{key} is listed as not public but its comment does not say so"


def _write(tmp_path, text):
    path = tmp_path / "custom.toml"
    path.write_text(text)
    return path


def _edited(tmp_path, old, new):
    text = (profile_dir() / "loihi1.toml").read_text()
    assert old in text
    return _write(tmp_path, text.replace(old, new))


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("weight_bits = 8 ", "weight_bits = 9 ", "weight_bits=9 is outside"),
        ("decay_bits = 12", "decay_bits = 16", "decay_bits=16"),
        ("cores = 128", "cores = 0", "cores=0"),
        ("cores = 128", "cores = 128\ncolour = 1", "unknown key"),
        ("neurons_per_core = 1024", "", "missing key 'neurons_per_core'"),
        ('arithmetic = "loihi-fixed"', 'arithmetic = "analog"', "arithmetic must be"),
        ("cores = 128", 'cores = "many"', "must be an integer"),
        ("not_public = []", 'not_public = ["resources.colour"]', "not_public"),
    ],
)
def test_invalid_profiles_are_clear_errors(tmp_path, old, new, message):
    with pytest.raises(nr.NeuroreconError, match=message):
        load_profile(_edited(tmp_path, old, new))


def test_bad_toml_and_unknown_name(tmp_path):
    with pytest.raises(nr.NeuroreconError, match="not valid TOML"):
        load_profile(_write(tmp_path, "name = [unclosed"))
    with pytest.raises(nr.NeuroreconError, match="unknown profile 'loihi9'"):
        load_profile("loihi9")


def test_profile_directory_override(tmp_path, monkeypatch):
    text = (profile_dir() / "loihi1.toml").read_text()
    (tmp_path / "mychip.toml").write_text(text.replace('name = "loihi1"', 'name = "mychip"'))
    monkeypatch.setenv("NEURORECON_PROFILES", str(tmp_path))
    assert available_profiles() == ["mychip"]
    assert load_profile("mychip").resources.neurons_per_core == 1024


def test_a_profile_named_unlike_its_file_or_a_folder_is_refused(tmp_path):
    shutil.copy(profile_dir() / "loihi1.toml", tmp_path / "mychip.toml")  # says name = "loihi1"
    with pytest.raises(nr.NeuroreconError, match="must match its file name"):
        load_profile(tmp_path / "mychip.toml")
    (tmp_path / "board.toml").mkdir()
    for folder in (tmp_path, tmp_path / "board.toml"):
        with pytest.raises(nr.NeuroreconError, match="folder"):
            load_profile(folder)
def test_with_weight_bits():
    loihi2 = load_profile("loihi2")
    four = loihi2.with_weight_bits(4)
    assert four.precision.weight_bits == 4 and loihi2.precision.weight_bits == 8
    assert four.precision.threshold_bits == loihi2.precision.threshold_bits and four.resources == loihi2.resources
    assert load_profile("float").with_weight_bits(4).precision is None
    for bad in (0, 9, 4.0, True):
        with pytest.raises(nr.NeuroreconError, match="weight bits must be in 1..8"):
            loihi2.with_weight_bits(bad)
