"""Benchmark: how often the project's OCR reads a struck-through list price back exactly, at every platform preset's
size, with the price tag as drawn now (`typography.draw_price_tag`: a floor on the list price's size, a thin strike
at the digits' middle in a colour half-way to the plate) beside the strike it replaces (full text colour, 1/9 of the
ink height, across the middle of the ink box, the list price at half the promo price's size).

Each case is a detail-card price band (`overlay_layout` + `apply_overlays`) on a light backdrop, encoded as JPEG
(quality 85, 4:4:4 as the exports) and decoded, then each price region is read by `skucore.quality.ocr.read_text`
and, where that read is not exact, read again by the float recogniser, as the text check does (`ocr.verify_texts`).
Prices whose symbol the recogniser cannot emit ("€", "£": not in its dictionary) are compared without it.

    python bench/bench_struck_prices.py [--tiny]
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image, ImageDraw  # noqa: E402

from skucore.base.platforms import PLATFORM_PRESETS  # noqa: E402
from skucore.imaging import typography as T  # noqa: E402
from skucore.quality.ocr import get_engine, read_text, read_texts, text_key  # noqa: E402

PRICES = [(7, "USD"), (19, "USD"), (129, "CNY"), (1299, "EUR"), (12.5, "GBP"), (999.99, "USD"), (1, "USD"),
          (4, "USD"), (11, "USD"), (88, "CNY"), (66, "CNY"), (7, "CNY"), (0.99, "USD"), (250, "USD"), (8.5, "USD"),
          (1111, "CNY"), (49, "CNY"), (3999, "CNY"), (29.9, "CNY"), (5, "USD")]
KITS = [{"primary": "#C8102E"}, {"primary": "#FFD100", "secondary": "#FFFFFF", "text": "#1A1A1A"},
        {"primary": "#14285A"}]


def old_price_tag(image, box, promo_price, original_price, currency, brand_kit):
    """The price tag as drawn before: list price at half size, a full-colour strike across the ink box middle."""
    bk = {**T.DEFAULT_BRAND, **{k: v for k, v in brand_kit.items() if v}}
    x0, y0, x1, y1 = box
    bh, bw = y1 - y0, x1 - x0
    promo, orig = T.format_price(promo_price, currency), T.format_price(original_price, currency)
    pad, size = max(4, int(bh * 0.16)), int(bh * 0.62)
    while True:
        f_main = T.font_for_text(promo, size, bk["font"])
        f_orig = T.font_for_text(orig, max(8, int(size * 0.5)), bk["font"])
        (mw, mh), (ow, oh) = T.text_size(f_main, promo), T.text_size(f_orig, orig)
        gap = int(size * 0.3)
        plate_w, plate_h = mw + gap + ow + 2 * pad, mh + 2 * pad
        if (plate_w <= bw and plate_h <= bh) or size <= 10:
            break
        size = max(10, int(size * 0.9))
    px0, py0 = x1 - plate_w, y0 + (bh - plate_h) // 2
    ImageDraw.Draw(image).rounded_rectangle((px0, py0, px0 + plate_w - 1, py0 + plate_h - 1),
                                           radius=max(2, plate_h // 5), fill=bk["primary"])
    colour = T.pick_text_colour(bk["primary"], (bk["secondary"], bk["text"]))
    regions = [T.draw_text(image, (px0 + pad, py0 + pad), promo, f_main, colour, "price")]
    r = T.draw_text(image, (px0 + pad + mw + gap, py0 + pad + mh - oh), orig, f_orig, colour, "original_price")
    ymid = (r.box[1] + r.box[3]) // 2
    ImageDraw.Draw(image).line((r.box[0], ymid, r.box[2] - 1, ymid), fill=colour, width=max(1, oh // 9))
    return regions + [r]


def readable_key(text: str, chars: set[str]) -> str:
    return "".join(c for c in text_key(text) if c in chars or c == "¥")


def run(prices, sizes, kits) -> dict:
    chars = set(get_engine().text_rec.postprocess_op.character)
    stats = {}
    for style in ("old", "new"):
        ok = total = second = 0
        misses = []
        t0 = time.perf_counter()
        for size in sizes:
            for price, cur in prices:
                for kit in kits:
                    img = Image.new("RGB", size, (246, 243, 238))
                    layout = T.overlay_layout(size, ["price"])
                    promo = round(price * 0.8, 2)
                    if style == "new":
                        regions = T.draw_price_tag(img, layout.price_box, promo, price, cur, kit)
                    else:
                        regions = old_price_tag(img, layout.price_box, promo, price, cur, kit)
                    buf = io.BytesIO()
                    img.save(buf, "JPEG", quality=85, subsampling=0)
                    dec = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
                    r = [x for x in regions if x.kind == "original_price"][0]
                    crop, want = dec.crop(r.box), readable_key(r.text, chars)
                    read, _ = read_text(crop)
                    if text_key(read) != want:  # as the text check does (`ocr.verify_texts`): a float reading
                        second += 1
                        read = read_texts([crop], float_recogniser=True)[0][0]
                    total += 1
                    if text_key(read) == want:
                        ok += 1
                    else:
                        misses.append(f"{size[0]}px {r.text!r}->{read!r}")
        stats[style] = {"read": ok, "total": total, "misses": misses, "s": time.perf_counter() - t0,
                        "second": second}
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="2 prices, 1 size, 1 plate (what CI runs)")
    args = ap.parse_args(argv)
    sizes = sorted({p.size for p in PLATFORM_PRESETS.values()} | {(480, 480)})
    prices, kits = PRICES, KITS
    if args.tiny:
        sizes, prices, kits = [(480, 480)], PRICES[:2], KITS[:1]
    stats = run(prices, sizes, kits)
    print(f"struck list prices: {len(prices)} prices x {len(sizes)} sizes ({', '.join(str(s[0]) for s in sizes)} px)"
          f" x {len(kits)} plates")
    for style, s in stats.items():
        print(f"  {style}: read back exactly {s['read']}/{s['total']} ({100.0 * s['read'] / s['total']:.1f} %), "
              f"{s['s']:.1f} s ({s['second']} read again in float); misses: {', '.join(s['misses'][:8]) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
