"""The prompt table of a promotion: one row per SKU x scene role, rendered from the template library.

Safety: prompts are rendered with Jinja2's `ImmutableSandboxedEnvironment` (a `SandboxedEnvironment` that also
refuses to mutate lists and dicts) and `StrictUndefined`, autoescape off (prompts are plain text). Catalog text
only ever enters as *variables* of a template that comes from the library, never as template source, so a product
name such as ``"{{ 7*7 }}"`` is printed literally. A template that reaches for Python internals
(``{{ name.__class__ }}``) raises `SecurityError` -> a ``template_unsafe`` problem; a field the row lacks (null in
the catalog) raises `UndefinedError` -> ``template_undefined``. Problems never raise out of `build_prompt_table`:
they become rows of `PromptBuild.problems` (schema `PROMPT_PROBLEMS_SCHEMA`), and that SKU x role gets no prompt row
(except ``prompt_over_budget``: the row is kept, marked ``over_budget``, so the gate check can fail on it).

Token budget: Z-Image's text encoder is Qwen3 (byte-level BPE); its tokenizer is not available offline, so the
default `count_tokens` is `estimate_tokens`, a deliberately pessimistic estimate (see its docstring). Pass the
real counter where it exists, e.g. ``count_tokens=lambda s: len(tokenizer.encode(s))``.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa
from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from skucore.prompting.promotions import Promotion
from skucore.base.safety import is_safe_sku
from skucore.prompting.sandbox import make_environment
from skucore.prompting.templates import SceneTemplate, TemplateLibrary, as_library, resolve_template
from skucore.tables import PROMPT_PROBLEMS_SCHEMA, PROMPT_TABLE_SCHEMA

__all__ = [
    "TOKEN_BUDGET", "PROMPT_TABLE_SCHEMA", "PROMPT_PROBLEMS_SCHEMA", "PROMPT_ADJUSTMENTS", "PromptBuild",
    "build_prompt_table", "seed_for", "prompt_hash", "estimate_tokens", "adjust_prompt",
    "format_price", "colour_name",
]

TOKEN_BUDGET = 512
MAX_PROMPT_CHARS = 20_000

# Regeneration: failed quality metric -> what to add to the prompt / negative prompt, in priority order. The one
# table the grader (which shows the adjustment) and `adjust_prompt` (which applies it) both read; keys are the
# quality metrics' own names. "{brand_colours}" is filled from the row's brand colours.
PROMPT_ADJUSTMENTS: dict[str, dict[str, str]] = {
    "fidelity": {"prompt": "product shown exactly as photographed", "negative": "altered product, deformed product"},
    "text": {"prompt": "clean uncluttered space for text", "negative": "busy background, text, letters"},
    "sharpness": {"prompt": "tack-sharp focus, high detail", "negative": "blurry, out of focus, motion blur"},
    "exposure": {"prompt": "balanced exposure, soft even light", "negative": "overexposed, underexposed, harsh shadows"},
    "brand_colour": {"prompt": "colour palette of {brand_colours}", "negative": "off-brand colours"},
    "near_duplicate": {"prompt": "varied composition, different camera angle", "negative": ""},
    "background_white": {"prompt": "seamless pure white background", "negative": "grey background, colour cast, vignette"},
}

_CURRENCY_SYMBOLS = {"CNY": "¥", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$"}
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class PromptBuild:
    table: pa.Table      # PROMPT_TABLE_SCHEMA
    problems: pa.Table   # PROMPT_PROBLEMS_SCHEMA


def seed_for(promotion_id: str, sku: str, role: str, attempt: int, seed_base: int) -> int:
    """Deterministic 63-bit seed from sha256 of (promotion, sku, role, attempt, seed_base); stable across
    processes and Python versions (unlike `hash()`)."""
    for name, v in (("attempt", attempt), ("seed_base", seed_base)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    payload = json.dumps([str(promotion_id), str(sku), str(role), attempt, seed_base],
                         ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(payload.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def prompt_hash(prompt: str, negative_prompt: str, template_id: str, seed: int) -> str:
    """sha256 (hex) of prompt, negative prompt, template id and seed, encoded unambiguously (JSON list)."""
    payload = json.dumps([prompt, negative_prompt, template_id, int(seed)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------- tokens
def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x3000 <= cp <= 0x303F
            or 0x3040 <= cp <= 0x30FF or 0xAC00 <= cp <= 0xD7AF or 0xFF00 <= cp <= 0xFFEF)


def estimate_tokens(text: str) -> int:
    """A pessimistic token count for Qwen3's byte-level BPE tokenizer (which is not available offline).

    Rules, each at or above what the real tokenizer produces for ordinary product text:
    - CJK ideographs, kana, hangul, CJK and full-width punctuation: 1 token per character (Qwen's vocabulary
      holds the common ideographs as single tokens and many 2-character words as one, so this overcounts);
    - digits: 1 token each (Qwen's pre-tokenizer splits numbers into single digits);
    - runs of ASCII letters: ceil(len / 3) (English BPE averages about 4 characters per token);
    - other ASCII punctuation and symbols: 1 each; whitespace: 0 (merged into the following word's token);
    - anything else (accented Latin, emoji, rare ideographs outside the BMP blocks above): its UTF-8 byte count,
      the hard upper bound for a byte-level BPE.
    Known gap: a rare ideograph inside the main CJK block that Qwen's vocabulary lacks costs 2-3 byte tokens but
    counts 1 here; product text is dominated by common characters and the English/CJK overcount above leaves the
    headroom. It counts the text only (no special or chat-template tokens). Real deployments pass the real
    tokenizer as `count_tokens`, and the gate then checks the exact figure.
    """
    total = 0
    letters = 0
    for ch in text:
        if ch.isascii() and ch.isalpha():
            letters += 1
            continue
        if letters:
            total += math.ceil(letters / 3)
            letters = 0
        if ch.isspace():
            continue
        if ch.isascii():
            total += 1  # digit or punctuation
        elif _is_cjk(ch):
            total += 1
        else:
            total += len(ch.encode("utf-8"))
    if letters:
        total += math.ceil(letters / 3)
    return total


# --------------------------------------------------------------------------------------------------- helpers
def _clean(text: str) -> str:
    """Collapse whitespace to single spaces and drop control characters (prompts are one line of text)."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    return _WS_RE.sub(" ", text).strip()


def format_price(value: float | None, currency: str | None, decimals: int) -> str | None:
    """"¥1,039" / "$19.99" / "SEK 99.00" (None for a null price)."""
    if value is None:
        return None
    number = f"{value:,.{decimals}f}"
    cur = currency or ""
    sym = _CURRENCY_SYMBOLS.get(cur)
    return f"{sym}{number}" if sym else (f"{cur} {number}" if cur else number)


def colour_name(hex_colour: str) -> str:
    """A plain-English name for a "#RRGGBB" colour ("#E4393C" -> "red"): text encoders know words, not hex."""
    import colorsys

    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, light, sat = colorsys.rgb_to_hls(r, g, b)
    if light >= 0.97 or (sat < 0.15 and light >= 0.9):
        return "white"
    if light <= 0.1 or (sat < 0.15 and light <= 0.15):
        return "black"
    if sat < 0.15:
        return "grey"
    hue = h * 360
    for limit, name in ((15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (200, "cyan"),
                        (255, "blue"), (290, "purple"), (340, "pink"), (361, "red")):
        if hue < limit:
            base = name
            break
    if light >= 0.8:
        return "pale pink" if base == "red" else f"pale {base}"
    if light <= 0.3:
        return f"dark {base}"
    return base


def _resolve_colour(value: str, promotion: Promotion) -> str:
    if value.startswith("brand."):
        return promotion.brand_kit.colours[value.split(".", 1)[1]]
    return value


def _resolved_backdrop(template: SceneTemplate, promotion: Promotion) -> str:
    bd = dict(template.backdrop)
    if "colours" in bd:
        bd["colours"] = [_resolve_colour(c, promotion) for c in bd["colours"]]
    if bd.get("kind") == "brand":
        bd["hex"] = promotion.brand_kit.colours[bd.get("colour", "primary")]
    return json.dumps(bd, ensure_ascii=False, sort_keys=True)


def _row_context(row: Mapping[str, Any], promotion: Promotion, role: str, promo_price: float | None
                 ) -> dict[str, Any]:
    """Template variables for one row. Only plain str/float/list/dict values; nulls are left out (StrictUndefined
    then reports a template that needs them)."""
    ctx: dict[str, Any] = {
        "role": role,
        "promotion": {"id": promotion.id, "title": promotion.title, "badge_text": promotion.badge_text},
    }
    for key in ("sku", "name", "category", "color", "material", "brand", "currency"):
        v = row.get(key)
        if isinstance(v, str) and v.strip():
            ctx[key] = _clean(v)
    for key in ("price", "list_price"):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            ctx[key] = float(value)
    if promo_price is not None:
        ctx["promo_price"] = promo_price
    sp = row.get("selling_points")
    if isinstance(sp, (list, tuple)):
        points = [_clean(p) for p in sp if isinstance(p, str) and p.strip()]
        if points:
            ctx["selling_points"] = points
    attrs = row.get("attributes")
    if isinstance(attrs, str) and attrs.strip():
        try:
            parsed = json.loads(attrs)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            # flat values only (nested structures are not prompt material)
            ctx["attributes"] = {str(k): (_clean(v) if isinstance(v, str) else v) for k, v in parsed.items()
                                 if isinstance(v, (str, int, float, bool))}
    return ctx


# --------------------------------------------------------------------------------------------------- the table
def build_prompt_table(
    catalog: pa.Table,
    promotion: Promotion,
    *,
    library: TemplateLibrary | str | Path | None = None,
    token_budget: int = TOKEN_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
    attempt: int = 0,
) -> PromptBuild:
    """Render every SKU x role of `promotion` for the catalog. Never raises for a bad row or template: each
    problem is a row of `problems`. Row order: catalog order, then the promotion's role order."""
    lib = as_library(library)
    counter = count_tokens or estimate_tokens
    for col in ("sku", "category"):
        if col not in catalog.column_names:
            raise ValueError(f"catalog has no {col!r} column (columns: {', '.join(catalog.column_names)})")
    env = make_environment()
    compiled: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    rule = promotion.price_rule
    brand_colours = [promotion.brand_kit.primary, promotion.brand_kit.secondary, promotion.brand_kit.accent,
                     promotion.brand_kit.text]

    def problem(sku: Any, role: str | None, reason: str, message: str) -> None:
        problems.append({"promotion": promotion.id, "sku": sku if isinstance(sku, str) else repr(sku),
                         "role": role, "reason": reason, "message": message})

    seen: set[str] = set()
    for row in catalog.to_pylist():
        sku = row.get("sku")
        if not is_safe_sku(sku):
            problem(sku, None, "sku_unsafe", f"sku {sku!r} is not a safe id; skipped")
            continue
        if sku in seen:
            problem(sku, None, "duplicate_sku", "sku appears more than once in the catalog; later rows skipped")
            continue
        seen.add(sku)
        category = row.get("category") if isinstance(row.get("category"), str) and row.get("category") else None

        price = row.get("price")
        price_ok = isinstance(price, (int, float)) and not isinstance(price, bool) and math.isfinite(price)
        currency = row.get("currency") if isinstance(row.get("currency"), str) and row.get("currency") else None
        promo_price: float | None = None
        price_issue: tuple[str, str] | None = None
        if not price_ok:
            price_issue = ("price_missing", f"no usable price ({price!r})")
        elif rule.kind in ("amount_off", "fixed") and currency and currency != rule.currency:
            price_issue = ("currency_mismatch",
                           f"price rule {rule.kind} is in {rule.currency} but the SKU is priced in {currency}")
        else:
            try:
                promo_price = promotion.promo_price(float(price))
            except ValueError as exc:
                price_issue = ("promo_price_invalid", str(exc))
        row_currency = currency or rule.currency
        # The struck-through price: the catalog's list price while the shop runs its own sale (the promotion then
        # starts from the sale price a shopper pays), else the price.
        list_price = row.get("list_price")
        struck = float(list_price) if price_ok and isinstance(list_price, (int, float)) and \
            not isinstance(list_price, bool) and math.isfinite(list_price) and list_price > price else \
            (float(price) if price_ok else None)
        context = _row_context(row, promotion, "", promo_price)

        for role in promotion.roles_for(category):
            template = resolve_template(category, role, lib)
            if price_issue and "price" in template.overlays:
                problem(sku, role, *price_issue)
                continue
            ctx = dict(context, role=role)
            try:
                tmpl = compiled.get(template.id)
                if tmpl is None:
                    tmpl = compiled[template.id] = env.from_string(template.prompt)
                text = tmpl.render(ctx)
            except SecurityError as exc:
                problem(sku, role, "template_unsafe", f"{template.id}: {exc}")
                continue
            except UndefinedError as exc:
                problem(sku, role, "template_undefined", f"{template.id}: {exc}")
                continue
            except TemplateSyntaxError as exc:
                problem(sku, role, "template_invalid", f"{template.id}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - one template error must not stop the batch
                problem(sku, role, "template_error", f"{template.id}: {type(exc).__name__}: {exc}")
                continue
            if len(text) > MAX_PROMPT_CHARS:
                problem(sku, role, "prompt_too_long", f"{template.id}: rendered {len(text)} characters")
                continue
            prompt = _clean(text)
            if not prompt:
                problem(sku, role, "prompt_empty", f"{template.id}: rendered an empty prompt")
                continue
            negative = template.negative_prompt
            seed = seed_for(promotion.id, sku, role, attempt, promotion.seed_base)
            n_tokens = int(counter(prompt))
            n_neg = int(counter(negative)) if negative else 0
            over = n_tokens > token_budget or n_neg > token_budget
            if n_tokens > token_budget:
                problem(sku, role, "prompt_over_budget",
                        f"{template.id}: prompt is {n_tokens} tokens, budget {token_budget}")
            if n_neg > token_budget:
                problem(sku, role, "prompt_over_budget",
                        f"{template.id}: negative prompt is {n_neg} tokens, budget {token_budget}")
            rows.append({
                "promotion": promotion.id, "sku": sku, "category": category, "role": role,
                "main": role == promotion.main_role, "template_id": template.id,
                "fallback": template.fallback_from, "backend": template.backend,
                "prompt": prompt, "negative_prompt": negative, "seed": seed, "seed_base": promotion.seed_base,
                "attempt": attempt, "adjustments": [],
                "prompt_hash": prompt_hash(prompt, negative, template.id, seed),
                "token_count": n_tokens, "negative_token_count": n_neg, "token_budget": token_budget,
                "over_budget": over, "overlays": list(template.overlays),
                "backdrop": _resolved_backdrop(template, promotion), "shadow": template.shadow,
                "reflection": template.reflection, "fill": template.fill,
                "price": float(price) if price_ok else None, "promo_price": promo_price,
                "currency": row_currency,
                "price_text": format_price(struck, row_currency, rule.decimals),
                "promo_price_text": format_price(promo_price, row_currency, rule.decimals),
                "badge_text": promotion.badge_text, "brand_colours": brand_colours,
            })
    table = pa.Table.from_pylist(rows, schema=PROMPT_TABLE_SCHEMA)
    problems_table = pa.Table.from_pylist(problems, schema=PROMPT_PROBLEMS_SCHEMA)
    return PromptBuild(table=table, problems=problems_table)


# --------------------------------------------------------------------------------------------------- regeneration
def adjust_prompt(prompt_row: Mapping[str, Any], failed_metrics: Sequence[str], attempt: int, *,
                  count_tokens: Callable[[str], int] | None = None,
                  adjustments: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """A new prompt row for regeneration attempt `attempt` after `failed_metrics` failed.

    New seed (`seed_for` with this attempt and the row's seed_base), the prompt and negative prompt extended with
    the phrases `PROMPT_ADJUSTMENTS` lists for each failed metric (a phrase already present is not repeated;
    unknown metrics change only the seed), `adjustments` extended, `prompt_hash` and token counts recomputed.
    The input row is not modified.
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
    prev = prompt_row.get("attempt") or 0
    if attempt <= prev:
        raise ValueError(f"attempt {attempt} must be greater than the row's attempt {prev}")
    table = PROMPT_ADJUSTMENTS if adjustments is None else adjustments
    counter = count_tokens or estimate_tokens
    row = dict(prompt_row)
    # primary, secondary, accent (the text colour is for overlays, not the scene), named and with their hex
    colours = ", ".join(f"{colour_name(c)} ({c})" for c in list(row.get("brand_colours") or [])[:3])
    prompt = row["prompt"]
    negative = row.get("negative_prompt") or ""
    applied = list(row.get("adjustments") or [])
    for metric in failed_metrics:
        adj = table.get(metric)
        if adj is None:
            continue
        for key in ("prompt", "negative"):
            phrase = (adj.get(key) or "").replace("{brand_colours}", colours).strip()
            if not phrase or (key == "prompt" and "{brand_colours}" in (adj.get(key) or "") and not colours):
                continue
            current = prompt if key == "prompt" else negative
            if phrase in current:
                continue
            current = f"{current}, {phrase}" if current else phrase
            if key == "prompt":
                prompt = current
            else:
                negative = current
        if metric not in applied:
            applied.append(metric)
    seed = seed_for(row["promotion"], row["sku"], row["role"], attempt, int(row["seed_base"]))
    row.update(
        prompt=prompt, negative_prompt=negative, seed=seed, attempt=attempt, adjustments=applied,
        prompt_hash=prompt_hash(prompt, negative, row["template_id"], seed),
    )
    budget = row.get("token_budget") or TOKEN_BUDGET
    row["token_count"] = int(counter(prompt))
    row["negative_token_count"] = int(counter(negative)) if negative else 0
    row["over_budget"] = row["token_count"] > budget or row["negative_token_count"] > budget
    return row
