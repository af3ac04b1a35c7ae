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
    """Point the datasets cache, and the temporary folder where generated sets go when that
    cache cannot be written, at fresh folders: tests never touch the user's caches, and never
    find a set an earlier run left behind."""
    import tempfile

    import datasets

    cache = tmp_path / "hf-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return cache
