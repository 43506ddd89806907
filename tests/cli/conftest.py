"""Fixtures for the `skustudio` command-line tests: a clean environment and a finished 2-SKU run."""
import pytest

from tests.helpers.cli import write_promotions, write_small_catalog


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A clean environment: SKUSTUDIO_HOME and DAGSTER_HOME under tmp_path, restored afterwards."""
    home = tmp_path / "home"
    monkeypatch.setenv("SKUSTUDIO_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
    monkeypatch.setenv("SKUSTUDIO_ENV", "local")
    monkeypatch.delenv("SKUSTUDIO_CATALOG", raising=False)
    monkeypatch.delenv("SKUSTUDIO_PROMOTIONS", raising=False)
    return home


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A real 2-SKU run of every stage (orchestration.demo.run_demo) on a promotion limited to one platform.
    Yields (home, catalog, promotions folder); the environment is restored afterwards."""
    from orchestration.demo import run_demo

    tmp = tmp_path_factory.mktemp("cli_demo")
    catalog = write_small_catalog(tmp / "catalog", 2)
    promotions = write_promotions(tmp / "promotions")
    home = tmp / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKUSTUDIO_ENV", "local")
        mp.setenv("SKUSTUDIO_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster_home"))
        mp.setenv("SKUSTUDIO_CATALOG", str(catalog))
        mp.setenv("SKUSTUDIO_PROMOTIONS", str(promotions))
        summary = run_demo(limit=2, home=home, echo=lambda *_: None)
        assert all(s.success for s in summary["stages"]), summary["stages"]
        yield home, catalog, promotions
