"""Shared fixtures."""

import copy

import pytest

from tests.sample_configs import SMOL


@pytest.fixture
def smol_dict() -> dict:
    """A fresh, mutable copy of configs/smol.json."""
    return copy.deepcopy(SMOL)


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    """Point the datasets cache at a temporary folder, so tests never touch the user's."""
    import datasets

    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache
