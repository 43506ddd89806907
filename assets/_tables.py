"""Store keys of the working tables and images, in one place. Every segment built from catalog text goes
through `key_component`."""
from __future__ import annotations

from skucore.base.safety import key_component as kc

CATALOG = "tables/catalog/catalog.parquet"  # the synced catalog every stage reads (passed the gate)
CATALOG_CANDIDATE = "tables/catalog/candidate.parquet"  # the last ingestion, before the gate
CATALOG_PASSED = "tables/catalog/candidate.passed"  # sha256 of the candidate that passed the gate
CATALOG_REJECTS = "tables/catalog/rejects.parquet"
CATALOG_SYNCED = "tables/catalog/synced.parquet"
CATALOG_CHANGES = "tables/catalog/changes.parquet"


def prompts(promotion: str) -> str:
    return f"tables/prompts/{kc(promotion)}.parquet"


def prompt_problems(promotion: str) -> str:
    return f"tables/prompts/{kc(promotion)}.problems.parquet"


def cutout(sku: str) -> str:
    return f"cutouts/{kc(sku)}/cutout.png"


def cutout_meta(sku: str) -> str:
    return f"cutouts/{kc(sku)}/cutout.parquet"


def generated(promotion: str, sku: str) -> str:
    return f"tables/generated/{kc(promotion)}/{kc(sku)}.parquet"


def image(promotion: str, sku: str, role: str, platform: str, attempt: int, sha256: str, ext: str) -> str:
    return f"images/{kc(promotion)}/{kc(sku)}/{kc(role)}-{kc(platform)}-a{int(attempt)}-{sha256[:16]}.{ext}"


def quality(promotion: str, sku: str) -> str:
    return f"tables/quality/{kc(promotion)}/{kc(sku)}.parquet"


def graded(promotion: str, sku: str) -> str:
    return f"tables/graded/{kc(promotion)}/{kc(sku)}.parquet"


def published(promotion: str, sku: str) -> str:
    return f"tables/published/{kc(promotion)}/{kc(sku)}.parquet"


def hashes(promotion: str, sku: str) -> str:
    return f"tables/hashes/{kc(promotion)}/{kc(sku)}.parquet"


def hashes_prefix(promotion: str) -> str:
    return f"tables/hashes/{kc(promotion)}/"


def attempts(promotion: str, sku: str) -> str:
    return f"tables/graded/{kc(promotion)}/{kc(sku)}.attempts.parquet"
