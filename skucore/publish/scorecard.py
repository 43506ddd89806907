"""The templates scorecard: per template and platform, how images grade (share of A, B and C over every attempt),
the metrics that fail most, and why reviewers reject, so designers know which template to fix ("iterate prompts
and templates from review feedback"). Rows come from the graded attempts tables, the generated tables (which
template made each image) and the review queue's decisions.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from skucore.prompting.review_reasons import reason_label

__all__ = ["template_scorecard", "TOP"]

TOP = 5  # metrics and reasons listed per row


def template_scorecard(attempts: Iterable[Mapping], template_of: Mapping[str, str | None],
                       decisions: Iterable[Mapping] = ()) -> list[dict]:
    """One row per (template_id, platform), worst first (lowest share of A):

    template_id, platform, attempts, A / B / C (raw grades of every attempt) and a_share / b_share / c_share,
    regenerations (attempts after the first), top_failed [(metric, count)], approved / rejected (reviewers'
    current decisions), reject_reasons [(label, count)], awaiting_template.
    `template_of` maps an image key to the template that made it (from the generated tables)."""
    rows: dict[tuple[str, str], dict] = {}

    def row(template: str | None, platform: str | None) -> dict:
        key = (template or "?", platform or "?")
        if key not in rows:
            rows[key] = {"template_id": key[0], "platform": key[1], "attempts": 0, "A": 0, "B": 0, "C": 0,
                         "regenerations": 0, "failed": Counter(), "approved": 0, "rejected": 0, "reasons": Counter(),
                         "awaiting_template": 0}
        return rows[key]

    for a in attempts:
        r = row(template_of.get(a["image_key"]), a.get("platform"))
        r["attempts"] += 1
        grade = a.get("raw_grade") or a.get("grade")
        if grade in ("A", "B", "C"):
            r[grade] += 1
        r["regenerations"] += int((a.get("attempt") or 0) > 0)
        r["failed"].update(a.get("failed_metrics") or [])
        r["awaiting_template"] += int(a.get("action") == "await_template" and not a.get("superseded"))
    for d in decisions:
        if not d.get("current"):
            continue
        r = row(d.get("template_id") or template_of.get(d["image_key"]), d.get("platform"))
        if d["decision"] == "approve":
            r["approved"] += 1
        elif d["decision"] == "reject":
            r["rejected"] += 1
            r["reasons"][reason_label(d.get("reason"))] += 1
    out = []
    for r in rows.values():
        n = r["attempts"] or 1
        out.append({
            **{k: r[k] for k in ("template_id", "platform", "attempts", "A", "B", "C", "regenerations", "approved",
                                 "rejected", "awaiting_template")},
            "a_share": round(r["A"] / n, 4), "b_share": round(r["B"] / n, 4), "c_share": round(r["C"] / n, 4),
            "top_failed": r["failed"].most_common(TOP), "reject_reasons": r["reasons"].most_common(TOP),
        })
    return sorted(out, key=lambda r: (r["a_share"] if r["attempts"] else 2.0, -r["rejected"], r["template_id"],
                                      r["platform"]))
