"""Shared fixtures."""

import copy

import pytest

from tests.sample_configs import SMOL


@pytest.fixture
def smol_dict() -> dict:
    """A fresh, mutable copy of configs/smol.json."""
    return copy.deepcopy(SMOL)
