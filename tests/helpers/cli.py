"""Helpers for the `skustudio` command-line tests (a uniquely named module: `conftest` is ambiguous)."""
import re
from pathlib import Path


from tests.helpers.catalogs import write_small_catalog  # noqa: E402,F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[2]


def write_promotions(folder: Path, platforms=("shopify",)) -> Path:
    """promotions/double11.yaml with fewer platforms: the same stages, fewer images, a faster test."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "promotions" / "double11.yaml").read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^platforms:.*$", f"platforms: [{', '.join(platforms)}]", text)
    assert count == 1
    (folder / "double11.yaml").write_text(text, encoding="utf-8")
    return folder
