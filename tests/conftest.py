"""Hypothesis profiles and a fixed numpy seed for every test.

The default profile is "ci": derandomized, 200 examples per property, no deadline (the
machines are noisy). Set HYPOTHESIS_PROFILE=dev for a quick local run.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from graph.op import REGISTRY

settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seeded_numpy():
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _registry_as_it_was():
    """Ops a test defines are forgotten after it: tests pass in any order."""
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)
