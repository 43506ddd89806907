"""The store's layout: every stored table's key and schema, in one place.

A public contract: the stages, the sensors, the CLI, the review desk and a CMS integration all read these
tables. Every key segment built from catalog text goes through `key_component`. Stage modules import their
schemas from here and never define a stored table's columns themselves.
"""
from __future__ import annotations

import pyarrow as pa

from skucore.base.safety import key_component as kc

# ---- keys ------------------------------------------------------------------------------------------------------
CATALOG = "tables/catalog/catalog.parquet"  # the synced catalog every stage reads (passed the gate)
CATALOG_CANDIDATE = "tables/catalog/candidate.parquet"  # the last ingestion, before the gate
CATALOG_PASSED = "tables/catalog/candidate.passed"  # sha256 of the candidate that passed the gate
CATALOG_REJECTS = "tables/catalog/rejects.parquet"
CATALOG_SYNCED = "tables/catalog/synced.parquet"
CATALOG_CHANGES = "tables/catalog/changes.parquet"
CATALOG_LOAD_SUMMARY = "tables/catalog/load_summary.json"  # the last ingestion's figures, reject examples
CATALOG_GATE = "tables/catalog/gate.json"  # the catalog gate's last verdict: passed, why, figures


def prompts(promotion: str) -> str:
    return f"tables/prompts/{kc(promotion)}.parquet"


def prompt_problems(promotion: str) -> str:
    return f"tables/prompts/{kc(promotion)}.problems.parquet"


def cutout(sku: str) -> str:
    return f"cutouts/{kc(sku)}/cutout.png"


def cutout_shadow(sku: str) -> str:
    """The photo's own floor shadow (8-bit opacity PNG in the photo's frame), for scenes with shadow: original."""
    return f"cutouts/{kc(sku)}/shadow.png"


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


def attempts(promotion: str, sku: str) -> str:
    return f"tables/graded/{kc(promotion)}/{kc(sku)}.attempts.parquet"


def published(promotion: str, sku: str) -> str:
    return f"tables/published/{kc(promotion)}/{kc(sku)}.parquet"


def hashes(promotion: str, sku: str) -> str:
    return f"tables/hashes/{kc(promotion)}/{kc(sku)}.parquet"


def hashes_prefix(promotion: str) -> str:
    return f"tables/hashes/{kc(promotion)}/"


def review_thumbnail(content_sha256: str, side: int, ext: str = "jpg") -> str:
    """A review-desk preview of an image, by the hash of its content: made once, then served from the store."""
    return f"review/thumbs/{kc(content_sha256[:2])}/{kc(content_sha256)}-{int(side)}.{kc(ext)}"


# ---- schemas ---------------------------------------------------------------------------------------------------
# Which image a row is about: shared by the generated, quality and graded tables.
IMAGE_IDENTITY = [
    pa.field("promotion", pa.string(), nullable=False),
    pa.field("sku", pa.string(), nullable=False),
    pa.field("role", pa.string()),
    pa.field("platform", pa.string()),
    pa.field("slot", pa.string()),
    pa.field("attempt", pa.int32()),
    pa.field("image_key", pa.string(), nullable=False),
]

CATALOG_SCHEMA = pa.schema([
    pa.field("sku", pa.string(), nullable=False),
    pa.field("name", pa.string()),
    pa.field("category", pa.string(), nullable=False),  # the template library's category
    pa.field("source_category", pa.string()),  # the catalog's own category path, as written
    pa.field("color", pa.string()),
    pa.field("material", pa.string()),
    pa.field("price", pa.float64(), nullable=False),  # what a shopper pays now (a sale price when one applies)
    pa.field("list_price", pa.float64()),  # the struck-through price: only while above `price`
    pa.field("currency", pa.string(), nullable=False),
    pa.field("brand", pa.string()),
    pa.field("selling_points", pa.list_(pa.string())),
    pa.field("image", pa.string(), nullable=False),
    pa.field("attributes", pa.string()),
    pa.field("photo_sha256", pa.string(), nullable=False),
    pa.field("photo_facts", pa.string()),  # JSON: what decoding found (mode, bit depth, ICC profile, orientation)
    pa.field("content_hash", pa.string(), nullable=False),
    pa.field("source_row", pa.int64(), nullable=False),
])

REJECTS_SCHEMA = pa.schema([
    pa.field("source_row", pa.int64()),
    pa.field("sku", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("field", pa.string()),
    pa.field("value", pa.string()),
    pa.field("message", pa.string()),
])

CHANGES_SCHEMA = pa.schema([("sku", pa.string()), ("change", pa.string())])  # new | changed | delisted | unchanged

PROMPT_TABLE_SCHEMA = pa.schema([
    ("promotion", pa.string()),
    ("sku", pa.string()),
    ("category", pa.string()),
    ("role", pa.string()),
    ("main", pa.bool_()),                 # role == promotion.main_role: the marketplace main image
    ("template_id", pa.string()),         # the template actually used
    ("fallback", pa.string()),            # the requested "category/role" when it fell back, else null
    ("backend", pa.string()),
    ("prompt", pa.string()),
    ("negative_prompt", pa.string()),
    ("seed", pa.int64()),
    ("seed_base", pa.int64()),
    ("attempt", pa.int32()),
    ("adjustments", pa.list_(pa.string())),  # failed metrics the prompt was adjusted for (regeneration)
    ("prompt_hash", pa.string()),
    ("token_count", pa.int32()),
    ("negative_token_count", pa.int32()),
    ("token_budget", pa.int32()),
    ("over_budget", pa.bool_()),
    ("overlays", pa.list_(pa.string())),
    ("backdrop", pa.string()),            # JSON; brand tokens resolved to the promotion's colours
    ("shadow", pa.bool_()),
    ("reflection", pa.bool_()),
    ("fill", pa.float64()),
    ("price", pa.float64()),
    ("promo_price", pa.float64()),
    ("currency", pa.string()),
    ("price_text", pa.string()),
    ("promo_price_text", pa.string()),
    ("badge_text", pa.string()),
    ("brand_colours", pa.list_(pa.string())),  # primary, secondary, accent, text
])

PROMPT_PROBLEMS_SCHEMA = pa.schema([
    ("promotion", pa.string()),
    ("sku", pa.string()),
    ("role", pa.string()),
    ("reason", pa.string()),
    ("message", pa.string()),
])

CUTOUT_META_SCHEMA = pa.schema([
    ("sku", pa.string()),
    ("photo_sha256", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("bbox", pa.list_(pa.int32())),
    ("area_ratio", pa.float64()),
    ("touches_edge", pa.bool_()),
    ("edges_touched", pa.list_(pa.string())),
    ("flags", pa.list_(pa.string())),
])

GENERATED_SCHEMA = pa.schema([
    *IMAGE_IDENTITY,
    ("sha256", pa.string()),
    ("format", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("bytes", pa.int64()),
    ("quality", pa.int32()),
    ("fill_ratio", pa.float64()),
    ("product_box", pa.list_(pa.int32())),
    ("fidelity", pa.string()),  # JSON
    ("text_regions", pa.string()),  # JSON list of {kind, text, box}
    ("lineage", pa.string()),  # JSON, the same as embedded in the file
    ("backend", pa.string()),
    ("template_id", pa.string()),
    ("seed", pa.int64()),
    ("prompt_hash", pa.string()),
    ("catalog_hash", pa.string()),  # the catalog row's content hash it was made from (row fields + photo)
])

QUALITY_SCHEMA = pa.schema([
    *IMAGE_IDENTITY,
    pa.field("metric", pa.string(), nullable=False),
    pa.field("value", pa.float64()),
    pa.field("threshold", pa.float64()),
    pa.field("comparator", pa.string()),
    pa.field("passed", pa.bool_()),  # null when excluded
    pa.field("status", pa.string(), nullable=False),  # pass | fail | excluded | error
    pa.field("detail", pa.string()),
])

HASHES_SCHEMA = pa.schema([("sku", pa.string()), ("image_key", pa.string()), ("hash", pa.string())])

GRADES_SCHEMA = pa.schema([
    *IMAGE_IDENTITY,
    pa.field("grade", pa.string(), nullable=False),  # A | B | C (after the max-attempts rule)
    pa.field("raw_grade", pa.string(), nullable=False),  # before it
    pa.field("score", pa.float64(), nullable=False),
    pa.field("action", pa.string(), nullable=False),
    pa.field("reasons", pa.list_(pa.string())),
    pa.field("failed_metrics", pa.list_(pa.string())),
    pa.field("prompt_adjustment", pa.string()),
])

# graded_sets' stored rows: the grade, plus what publishing and review need of the image file.
GRADED_SCHEMA = pa.schema([
    *GRADES_SCHEMA,
    ("sha256", pa.string()),
    ("format", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("backend", pa.string()),
    ("decision", pa.string()),  # approve | reject | null (pending or not a B)
    ("publishable", pa.bool_()),
    ("superseded", pa.bool_()),  # an earlier attempt replaced by a regeneration
    ("catalog_hash", pa.string()),  # the catalog row the image was made from
])

PUBLISHED_SCHEMA = pa.schema([
    ("promotion", pa.string()),
    ("sku", pa.string()),
    ("role", pa.string()),
    ("platform", pa.string()),
    ("key", pa.string()),
    ("url", pa.string()),
    ("sha256", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("grade", pa.string()),
    ("approved", pa.bool_()),
    ("content_type", pa.string()),
    ("bytes", pa.int64()),
    ("action", pa.string()),  # "uploaded" | "unchanged" | "repaired"
])

# What cdn_publish stores per SKU: the published rows plus the catalog row the images show.
PUBLISHED_TABLE_SCHEMA = PUBLISHED_SCHEMA.append(pa.field("catalog_hash", pa.string()))

SKIPPED_SCHEMA = pa.schema([
    ("promotion", pa.string()),
    ("sku", pa.string()),
    ("role", pa.string()),
    ("platform", pa.string()),
    ("grade", pa.string()),
    ("reason", pa.string()),
    ("detail", pa.string()),
])
