"""One real Dagster instance (webserver + daemon on loopback, temporary DAGSTER_HOME and SKUSTUDIO_HOME, a
4-SKU copy of the sample catalog) shared by the e2e modules of a pytest process; always torn down."""
import pytest

from tests.helpers.dagster_e2e import start_instance, stop_instance


@pytest.fixture(scope="session")
def dagster_instance(tmp_path_factory):
    inst = start_instance(tmp_path_factory.mktemp("e2e_instance"), n_skus=4)
    try:
        yield inst
    finally:
        stop_instance(inst)
