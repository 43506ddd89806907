"""The queue: a paged grid of thumbnails awaiting a decision (B images, or A's drawn for a spot check), filtered
by promotion, platform, scene and reason, with counts per promotion; bulk approval of a selection; and a SKU's
page (where the Dagster UI links)."""
from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from skucore.publish.review import KINDS, AlreadyDecided, ItemChanged, UnknownReviewItem

from orchestration.review_desk.web import (blocking, checked_form, desk, filters_of, flash, int_param, query, redirect,
                                           render, reviewer, safe_next)


def queue_page_data(queue, filters: dict, page: int, page_size: int) -> dict:
    """What the queue page shows (one function, so the benchmark measures exactly the page's database work)."""
    args = {k: v for k, v in filters.items() if k in ("promotion", "kind", "platform", "role", "reason")}
    total = queue.count_pending(**args)
    pages = max(1, -(-total // page_size))
    page = min(page, pages)
    items = queue.pending(**args, limit=page_size, offset=(page - 1) * page_size)
    return {"items": items, "total": total, "page": page, "pages": pages, "counts": queue.pending_counts(),
            "facets": queue.facets(filters.get("promotion"), kind=filters["kind"])}


async def home(request: Request):
    return redirect("/queue")


async def queue_page(request: Request):
    cfg = desk(request)
    filters = filters_of(request.query_params)
    if filters["kind"] not in KINDS:
        raise HTTPException(400, f"kind must be one of {', '.join(KINDS)}")
    page = int_param(request.query_params.get("page"), 1, low=1)
    data = await blocking(queue_page_data, cfg.queue, filters, page, cfg.page_size)
    return render(request, "queue.html", filters=filters, qs=query(filters), **data,
                  page_link=lambda n: "/queue?" + query(filters, page=n), publish_configured=bool(cfg.dagster_url))


async def bulk_approve(request: Request):
    """POST /bulk-approve: approve the selected images (each as the version and content the page showed)."""
    form = await checked_form(request)
    name = reviewer(request)
    queue = desk(request).queue
    approved, refused = [], []
    for value in form.getlist("pick"):
        item_id, _, rest = str(value).partition(":")
        version, _, sha256 = rest.partition(":")
        try:
            row = await blocking(queue.decide, int(item_id), "approve", name, expected_version=int(version),
                                 expected_sha256=sha256 or None)
            approved.append(row["id"])
        except (AlreadyDecided, ItemChanged) as exc:
            refused.append(str(exc))
        except (UnknownReviewItem, ValueError):
            refused.append(f"#{item_id}: no such item")
    if approved:
        remember(request, approved)
        flash(request, "ok", f"approved {len(approved)} image(s): " + ", ".join(f"#{i}" for i in approved)
              + " (press u to undo the last)")
    for message in refused[:5]:
        flash(request, "warn", message)
    if not approved and not refused:
        flash(request, "warn", "nothing selected: tick the images to approve first")
    return redirect(safe_next(str(form.get("next") or ""), "/queue"))


def remember(request: Request, item_ids: list[int]) -> None:
    """The reviewer's own recent decisions, newest last: what "undo" (u) takes back."""
    request.session["decided"] = [*request.session.get("decided", []), *item_ids][-50:]


async def sku_page(request: Request):
    """GET /sku/{promotion}/{sku}: every image of a SKU: grade, decision, publishable; queued ones link to their
    page. The Dagster UI's graded_sets metadata links here (SKUSTUDIO_REVIEW_URL)."""
    from skucore import tables as T

    cfg = desk(request)
    promotion, sku = request.path_params["promotion"], request.path_params["sku"]
    items = await blocking(cfg.queue.items_of_sku, promotion, sku)
    try:
        graded = await blocking(cfg.store.read_table_or_none, T.graded(promotion, sku))
    except ValueError:  # a promotion or SKU that cannot be a key: nothing stored under it
        graded = None
    if graded is None and not items:
        raise HTTPException(404, "no graded images and nothing queued for this SKU")
    by_key = {i["image_key"]: i for i in items}
    rows = [{**g, "item": by_key.get(g["image_key"])} for g in (graded.to_pylist() if graded is not None else [])]
    return render(request, "sku.html", promotion=promotion, sku=sku, rows=rows, items=items,
                  publish_configured=bool(cfg.dagster_url))


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/queue", queue_page, methods=["GET"]),
    Route("/bulk-approve", bulk_approve, methods=["POST"]),
    Route("/sku/{promotion}/{sku}", sku_page, methods=["GET"]),
]
