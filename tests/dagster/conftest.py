import pytest

from tests.helpers.catalogs import write_small_catalog


@pytest.fixture
def small_catalog(tmp_path):
    return write_small_catalog(tmp_path / "catalog", 3)
