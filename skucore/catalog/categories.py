"""From a catalog's own category (`Men/Tops/Jackets`, `Clothing > Tshirts`, a Shopify `Type`, a Google product
taxonomy id) to the template library's category (fashion, home_decor ...).

Rules from a mapping file come first: a rule is a path whose levels must begin the catalog's path (`Clothing`
matches `Clothing > Tshirts`), `*` standing for one level and `**` for any number; the rule with the most named
levels wins, the first written on a tie. `google:<id>` rules match a Google product taxonomy id. Then the
built-in words below, looked up level by level from the most specific (`... > Mugs` is home_decor whatever its
parents are called), then a few Google taxonomy ids. What matches nothing falls to the default category, and the
sync counts it.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from skucore.catalog.records import CatalogError, cell_text, path_segments

# The template library's categories (skucore.prompting.templates owns the real list; the Dagster layer passes it in).
DEFAULT_KNOWN_CATEGORIES = ("electronics", "fashion", "home_decor", "beauty", "default")

_WORDS = {
    "fashion": "apparel apparel_&_accessories clothing clothes tops clothing_tops shirts shirts_&_tops t_shirts "
               "t_shirt tshirts tees tee polos polo hoodies hoodie hoodies_&_sweatshirts sweatshirts sweaters "
               "jackets coats dresses skirts pants trousers jeans shorts long_sleeves knitwear activewear shoes "
               "sneakers hats caps bags totes tote_bags handbags handbags,_wallets_&_cases backpacks wallets "
               "服装 服饰 女装 男装 鞋 包",
    "home_decor": "home home_&_garden home_&_kitchen homeware kitchen kitchen_&_dining tableware drinkware mugs "
                  "mug cups decor home_decor furniture bedding lighting 家居 厨具",
    "electronics": "electronics electronic phones phone mobile_phones audio headphones computers laptops cameras "
                   "数码 手机 电子",
    "beauty": "beauty health_&_beauty cosmetics makeup skincare skin_care fragrance personal_care 美妆 护肤",
}
CATEGORY_SYNONYMS = {word: category for category, words in _WORDS.items() for word in words.split()}
# Google product taxonomy ids whose meaning here is plain (top levels and the apparel levels shops use most).
GOOGLE_TAXONOMY = {"166": "fashion", "1604": "fashion", "212": "fashion", "187": "fashion", "536": "home_decor",
                   "638": "home_decor", "222": "electronics", "469": "beauty"}
_TAXONOMY_RULE = re.compile(r"^(?:google:)?\s*(\d+)$", re.IGNORECASE)


def segment_key(segment: str) -> str:
    return re.sub(r"[\s\-]+", "_", segment.strip().casefold())


def normalize_category(value: Any) -> str | None:
    """A single category word as the built-in table reads it ("T-Shirts" -> fashion; unknown words as keys)."""
    text = cell_text(value)
    if text is None:
        return None
    key = segment_key(text)
    return CATEGORY_SYNONYMS.get(key, key)


class CategoryMapper:
    """Chooses the template category of each record; see the module docstring for the order of rules."""

    def __init__(self, rules: dict[str, str] | None, known: Iterable[str], where: str = "mapping"):
        self.known = {segment_key(c) for c in known}
        self.path_rules: list[tuple[list[str], str, int]] = []
        self.taxonomy_rules: dict[str, str] = {}
        for order, (pattern, category) in enumerate((rules or {}).items()):
            target = segment_key(category)
            if target not in self.known:
                raise CatalogError(f"mapping {where}: categories: {pattern!r} maps to {category!r}, which is not a "
                                   f"template category ({', '.join(sorted(self.known))})")
            taxonomy = _TAXONOMY_RULE.match(str(pattern))
            if taxonomy and (str(pattern).lower().startswith("google:") or isinstance(pattern, int)
                             or str(pattern).isdigit()):
                self.taxonomy_rules[taxonomy[1]] = target
                continue
            segments = [segment_key(s) for s in path_segments(str(pattern))]
            if not segments:
                raise CatalogError(f"mapping {where}: categories: {pattern!r} is not a category path")
            self.path_rules.append((segments, target, order))

    def choose(self, category: Any, taxonomy: Any = None) -> str | None:
        """The template category, or None when nothing matches."""
        path = cell_text(category)
        tax = cell_text(taxonomy)
        tax_id = tax if tax and tax.isdigit() else None
        paths = [p for p in (path, tax if tax and not tax_id else None) if p]
        for candidate in paths:
            found = self._rule_for(candidate)
            if found:
                return found
        if tax_id and tax_id in self.taxonomy_rules:
            return self.taxonomy_rules[tax_id]
        for candidate in paths:
            found = self._built_in(candidate)
            if found:
                return found
        return GOOGLE_TAXONOMY.get(tax_id) if tax_id else None

    def _rule_for(self, path: str) -> str | None:
        segments = [segment_key(s) for s in path_segments(path)]
        best: tuple[int, int, str] | None = None
        for pattern, target, order in self.path_rules:
            if _matches(pattern + ["**"], segments):
                named = sum(1 for s in pattern if s not in ("*", "**"))
                if best is None or (named, -order) > (best[0], best[1]):
                    best = (named, -order, target)
        return best[2] if best else None

    def _built_in(self, path: str) -> str | None:
        whole = segment_key(path)
        if whole in self.known:
            return whole
        if whole in CATEGORY_SYNONYMS and CATEGORY_SYNONYMS[whole] in self.known:
            return CATEGORY_SYNONYMS[whole]
        for segment in reversed(path_segments(path)):
            key = segment_key(segment)
            if key in self.known and key != "default":
                return key
            if CATEGORY_SYNONYMS.get(key) in self.known:
                return CATEGORY_SYNONYMS[key]
        return None


def _matches(pattern: list[str], segments: list[str]) -> bool:
    if not pattern:
        return not segments
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, segments[i:]) for i in range(len(segments) + 1))
    if not segments:
        return False
    return (head == "*" or head == segments[0]) and _matches(rest, segments[1:])
