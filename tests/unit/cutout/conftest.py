import os
import sys

import pytest

_BENCH = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench"))
if _BENCH not in sys.path:
    sys.path.insert(0, _BENCH)


@pytest.fixture(scope="session")
def gt_case():
    """make_case(kind, seed) at 800 px, cached for the session."""
    import cutout_groundtruth as g

    cache = {}

    def get(kind, seed=0):
        key = (kind, seed)
        if key not in cache:
            cache[key] = g.make_case(kind, size=800, seed=seed)
        return cache[key]

    return get
