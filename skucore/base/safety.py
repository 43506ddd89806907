"""Where catalog text meets file paths, object keys and partition keys.

SKU ids are validated against a conservative alphabet at ingestion (rows that fail are rejected), and every
place that builds a path or key from catalog data goes through `key_component`, which escapes anything outside
that alphabet anyway (defence in depth: a future caller that skips validation still cannot escape a folder).
"""
from __future__ import annotations

import re
import urllib.parse

# Letters, digits, dot, underscore, hyphen; must start with a letter or digit; at most 64 characters.
# Dagster partition keys also forbid "|" and "," (multi-partition and range syntax): this alphabet has neither.
SAFE_SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def is_safe_sku(sku: object) -> bool:
    return isinstance(sku, str) and bool(SAFE_SKU_RE.match(sku)) and ".." not in sku


def key_component(text: str) -> str:
    """Escape `text` into one path segment / S3 key segment that cannot traverse or inject.

    Safe text passes through unchanged, so keys stay readable for validated SKU ids.
    """
    if not isinstance(text, str) or text == "":
        raise ValueError(f"key_component needs a non-empty string, got {text!r}")
    if is_safe_sku(text):
        return text
    escaped = urllib.parse.quote(text, safe="")
    escaped = escaped.replace(".", "%2E")  # "." and ".." never survive as segments
    return escaped
