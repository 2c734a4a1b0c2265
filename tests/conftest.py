"""Shared fixtures. Test helpers (``lava_reference``, ``netgen``) are imported from this folder.

The project's tests run with ``--import-mode=importlib`` so that they never collide with the
top-level ``tests`` package lava-nc installs into site-packages.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared (the project's shared data) is missing at {SHARED}")
    return SHARED
