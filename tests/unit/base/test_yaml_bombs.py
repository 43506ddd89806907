"""An alias-expansion bomb ("billion laughs") in a promotion, template library or catalog mapping file is refused
with a short error: the aliases parse as shared references, and no error message prints the expanded value.

Before: a bomb under a promotion's `main_role` ran past 60 s at about 2 GB while formatting the error. Each case
runs in a child process with a 1 GiB address-space cap and a generous time limit, so a regression fails the test
instead of taking the machine down."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def bomb(levels: int = 8, width: int = 9) -> str:
    """A flow-style YAML value holding its own anchors: 9**8 = 43 million strings once expanded, from 63 aliases
    (under the cap of 100)."""
    parts = ["&l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        parts.append(f"&l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "[" + ", ".join(parts) + "]"


def _run_capped(code: str) -> dict:
    script = textwrap.dedent("""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        sys.path.insert(0, {root!r})
        try:
            {body}
        except Exception as exc:
            print(json.dumps({{"error": type(exc).__name__, "message": str(exc)}}))
        else:
            print(json.dumps({{"error": None}}))
    """).format(root=str(ROOT), body=textwrap.indent(textwrap.dedent(code), "    ").strip())
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


PROMOTION = """\
id: bombed
title: "Bomb"
badge_text: "x"
price_rule: {kind: percent_off, value: 10, currency: CNY}
scene_roles: {default: [studio]}
platforms: [shopify]
brand_kit: {primary: "#E4393C", secondary: "#FFE8E0", accent: "#FFC53D", text: "#FFFFFF"}
seed_base: 1
"""


@pytest.mark.parametrize("field", ["main_role", "title", "platforms", "seed_base", "start", "scene_roles"])
def test_promotion_bomb_is_a_short_error(tmp_path, field):
    kept = [line for line in PROMOTION.splitlines() if not line.startswith(f"{field}:")]
    path = tmp_path / "bombed.yaml"
    path.write_text("\n".join(kept) + f"\n{field}: {bomb()}\n", encoding="utf-8")
    result = _run_capped(f"""
        from skucore.prompting.promotions import load_promotion
        load_promotion({str(path)!r}, known_platforms=["shopify"])
    """)
    assert result["error"] == "PromotionError", result
    assert field in result["message"] and len(result["message"]) < 400, result["message"][:500]


def test_template_library_bomb_is_a_short_error(tmp_path):
    path = tmp_path / "templates.yaml"
    path.write_text("version: 1\ncategories:\n  default:\n    studio:\n      backend: studio\n"
                    f"      prompt: {bomb()}\n", encoding="utf-8")
    result = _run_capped(f"""
        from skucore.prompting.templates import load_template_library
        load_template_library({str(path)!r})
    """)
    assert result["error"] == "TemplateLibraryError", result
    assert len(result["message"]) < 400, result["message"][:500]


@pytest.mark.parametrize("setting", ["columns:\n  sku: {bomb}", "categories:\n  Clothing: {bomb}",
                                     "currency: {bomb}", "photos:\n  prefix: {bomb}", "constants: {bomb}"])
def test_mapping_file_bomb_is_a_short_error(tmp_path, setting):
    path = tmp_path / "mapping.yaml"
    path.write_text(setting.format(bomb=bomb()) + "\n", encoding="utf-8")
    result = _run_capped(f"""
        from skucore.catalog.mapping import load_mapping
        load_mapping({str(path)!r})
    """)
    assert result["error"] == "CatalogError", result
    assert "mapping.yaml" in result["message"] and len(result["message"]) < 400, result["message"][:500]


def test_more_than_a_hundred_aliases_are_refused(tmp_path):
    from skucore.base.yamlio import load_yaml_strict

    text = "a: &a x\nb: [" + ", ".join(["*a"] * 101) + "]\n"
    with pytest.raises(Exception, match="more than 100 alias references"):
        load_yaml_strict(text)
