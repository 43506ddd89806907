"""One image, fully explained, and the decisions on it: approve, reject with a reason (plus a note), undo. After a
decision the reviewer goes on to the next image of the same filtered queue. Keyboard: a approve, r reject,
j / right next, k / left previous, u undo the last decision (static/desk.js)."""
from __future__ import annotations

import bisect

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from skucore.prompting.review_reasons import REVIEW_REASONS, reason_label
from skucore.publish.review import AlreadyDecided, ItemChanged, NotDecided, UnknownReviewItem

from orchestration.review_desk import data
from orchestration.review_desk.pages_queue import remember
from orchestration.review_desk.web import (blocking, checked_form, desk, filters_of, flash, int_param, query, redirect,
                                           render, reviewer, safe_next)


def neighbours(ids: list[int], item_id: int) -> tuple[int | None, int | None]:
    """(previous, next) pending ids around `item_id` in queue order (it may itself be decided already)."""
    i = bisect.bisect_left(ids, item_id)
    prev = ids[i - 1] if i > 0 else None
    j = i + 1 if i < len(ids) and ids[i] == item_id else i
    return prev, ids[j] if j < len(ids) else None


def _pending_ids(queue, filters: dict) -> list[int]:
    return queue.pending_ids(**{k: v for k, v in filters.items() if k in ("promotion", "kind", "platform", "role", "reason")})


async def _get(request: Request, item_id: int) -> dict:
    try:
        return await blocking(desk(request).queue.get, item_id)
    except UnknownReviewItem:
        raise HTTPException(404, "no such review item") from None


async def item_page(request: Request):
    cfg = desk(request)
    item_id = int(request.path_params["item_id"])
    filters = filters_of(request.query_params)
    filters.setdefault("kind", "review")
    item = await _get(request, item_id)
    detail = await blocking(data.item_detail, cfg.store, request.app.state.catalog, item)
    ids = await blocking(_pending_ids, cfg.queue, filters)
    prev_id, next_id = neighbours(ids, item_id)
    history = await blocking(cfg.queue.audit, item_id=item_id, limit=20)
    return render(request, "item.html", item=item, d=detail, filters=filters, qs=query(filters),
                  prev_id=prev_id, next_id=next_id, position=(ids.index(item_id) + 1) if item_id in ids else None,
                  total=len(ids), reasons=REVIEW_REASONS, reason_label=reason_label, history=history,
                  publish_configured=bool(cfg.dagster_url))


async def decide(request: Request):
    """POST /item/{id}/decide: decision=approve|reject, reason (a code; required to reject), note, version, sha256."""
    form = await checked_form(request)
    name = reviewer(request)
    cfg = desk(request)
    item_id = int(request.path_params["item_id"])
    filters = filters_of(form)
    decision = str(form.get("decision") or "")
    reason = str(form.get("reason") or "") or None
    if decision == "reject" and reason not in REVIEW_REASONS:
        flash(request, "warn", "pick a reason to reject (the next attempt is adjusted for it)")
        return redirect(f"/item/{item_id}?{query(filters)}")
    try:
        await blocking(cfg.queue.decide, item_id, decision, name, str(form.get("note") or "").strip()[:2000] or None,
                       reason=reason if decision == "reject" else None,
                       expected_version=int_param(form.get("version"), -1, low=-1),
                       expected_sha256=str(form.get("sha256") or "") or None)
    except AlreadyDecided as exc:
        flash(request, "warn", f"already decided: {exc.item['decision']} by {exc.item['reviewer']} at "
                               f"{exc.item['decided_at']} (not changed)")
        return redirect(f"/item/{item_id}?{query(filters)}")
    except ItemChanged as exc:
        flash(request, "warn", str(exc))
        return redirect(f"/item/{item_id}?{query(filters)}")
    except UnknownReviewItem:
        raise HTTPException(404, "no such review item") from None
    except ValueError as exc:
        flash(request, "warn", str(exc))
        return redirect(f"/item/{item_id}?{query(filters)}")
    remember(request, [item_id])
    verb = "approved" if decision == "approve" else f"rejected ({reason_label(reason)})"
    flash(request, "ok", f"#{item_id} {verb} (press u to undo)")
    ids = await blocking(_pending_ids, cfg.queue, filters)
    _, next_id = neighbours(ids, item_id)
    if next_id is None and ids:
        next_id = ids[0]
    return redirect(f"/item/{next_id}?{query(filters)}" if next_id else f"/queue?{query(filters)}")


async def undo(request: Request):
    """POST /item/{id}/undo: take back the item's decision (any reviewer; the audit says who)."""
    form = await checked_form(request)
    name = reviewer(request)
    item_id = int(request.path_params["item_id"])
    try:
        await blocking(desk(request).queue.undo, item_id, name, expected_version=int_param(form.get("version"), 0))
        flash(request, "ok", f"#{item_id}: decision undone, it is pending again")
    except (NotDecided, ItemChanged) as exc:
        flash(request, "warn", str(exc))
    except UnknownReviewItem:
        raise HTTPException(404, "no such review item") from None
    return redirect(f"/item/{item_id}?{query(filters_of(form))}")


async def undo_last(request: Request):
    """POST /undo-last: take back this reviewer's most recent decision in this session (the u key)."""
    form = await checked_form(request)
    name = reviewer(request)
    decided = list(request.session.get("decided", []))
    if not decided:
        flash(request, "warn", "nothing to undo: no decision of yours in this session")
        return redirect(safe_next(str(form.get("next") or "")))
    item_id = decided.pop()
    request.session["decided"] = decided
    try:
        await blocking(desk(request).queue.undo, item_id, name)
        flash(request, "ok", f"#{item_id}: your decision was undone, it is pending again")
    except (NotDecided, ItemChanged, UnknownReviewItem) as exc:
        flash(request, "warn", f"#{item_id}: {exc}")
    return redirect(f"/item/{item_id}?{query(filters_of(form))}")


ROUTES = [
    Route("/item/{item_id:int}", item_page, methods=["GET"]),
    Route("/item/{item_id:int}/decide", decide, methods=["POST"]),
    Route("/item/{item_id:int}/undo", undo, methods=["POST"]),
    Route("/undo-last", undo_last, methods=["POST"]),
]
