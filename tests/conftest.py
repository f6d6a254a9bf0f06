import os

import numpy as np
import pytest
from hypothesis import settings

# The default profile keeps the suite quick; CI's long run selects "ci" with
# HYPOTHESIS_PROFILE=ci (see .ci/run).
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("ci", max_examples=600, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
