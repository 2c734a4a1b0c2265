"""pyproject.toml and the Makefile's setup install the same packages, with the same pins."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_DEPS = {"lava-nc", "norse", "snntorch", "sinabs", "rockpool"}  # installed by the Makefile with --no-deps, not declared (see pyproject)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()


def _makefile_requirements() -> dict[str, str]:
    recipe = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    found = {}
    for line in recipe.splitlines():
        if "$(PIP) install" not in line or "-e ." in line:
            continue
        for token in re.findall(r'"[^"]+"|\S+', line.split("install", 1)[1]):
            token = token.strip('"')
            if not token.startswith("-"):
                found[_name(token)] = token
    return found


def test_makefile_installs_what_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r): r for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    installed = _makefile_requirements()
    assert set(installed) - NO_DEPS == set(declared)
    for name, requirement in declared.items():
        assert installed[name] == requirement, f"{name}: pyproject says {requirement}, the Makefile {installed[name]}"
    assert "ecos" not in declared  # cvxpy 1.7 solves with Clarabel; nothing imports ecos
