"""Sign-in, the audit view, spot checks of published A's, the templates scorecard, and "publish now"."""
from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from skucore.prompting.review_reasons import reason_label

from orchestration.review_desk import data
from orchestration.review_desk.config import verify_password
from orchestration.review_desk.web import (blocking, checked_form, desk, flash, int_param, redirect, render, reviewer,
                                           safe_next)

AUDIT_PAGE = 100


async def login_page(request: Request):
    return render(request, "login.html", next=safe_next(request.query_params.get("next")),
                  needs_password=desk(request).needs_password)


async def login(request: Request):
    """POST /login: with credentials configured, name and password (scrypt); on loopback without, a name."""
    form = await checked_form(request)
    cfg = desk(request)
    name = " ".join(str(form.get("name") or "").split())[:80]
    target = safe_next(str(form.get("next") or ""))
    if not name:
        flash(request, "warn", "type your name: every decision carries it")
        return redirect(f"/login?next={target}")
    if cfg.needs_password:
        encoded = cfg.reviewers.get(name)
        # The same work and answer for an unknown name as for a wrong password.
        ok = verify_password(str(form.get("password") or ""), encoded or "scrypt$16384$8$1$AAAA$AAAA")
        if not (encoded and ok):
            flash(request, "warn", "unknown reviewer or wrong password")
            return redirect(f"/login?next={target}")
    request.session.clear()  # a new session for the new reviewer (a fresh CSRF token too)
    request.session["reviewer"] = name
    return redirect(target)


async def logout(request: Request):
    await checked_form(request)
    request.session.clear()
    return redirect("/login")


async def audit_page(request: Request):
    queue = desk(request).queue
    promotion = request.query_params.get("promotion") or None
    page = int_param(request.query_params.get("page"), 1, low=1)
    entries = await blocking(queue.audit, promotion, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE)
    total = await blocking(queue.count_audit, promotion)
    return render(request, "audit.html", entries=entries, promotion=promotion, page=page,
                  pages=max(1, -(-total // AUDIT_PAGE)), total=total, reason_label=reason_label)


def spot_check_summary(cfg) -> list[dict]:
    counts = cfg.queue.pending_counts()
    decided = cfg.queue.export_decisions()
    out = []
    for promotion in sorted(set(data.promotions_in_store(cfg.store)) | set(counts)):
        mine = [d for d in decided if d["promotion"] == promotion and d["kind"] == "spot_check" and d["current"]]
        out.append({"promotion": promotion, "pending": counts.get(promotion, {}).get("spot_check", 0),
                    "confirmed": sum(d["decision"] == "approve" for d in mine),
                    "rejected": sum(d["decision"] == "reject" for d in mine)})
    return out


async def spot_checks_page(request: Request):
    cfg = desk(request)
    rows = await blocking(spot_check_summary, cfg)
    return render(request, "spot_checks.html", rows=rows, share=cfg.grading.spot_check_share if cfg.grading else 0.05,
                  min_per_stratum=cfg.grading.spot_check_min_per_stratum if cfg.grading else 1)


def draw_sample(cfg, promotion: str) -> tuple[int, int]:
    """Queue a stratified sample of the promotion's published A's for a spot check: (drawn, candidates)."""
    from skucore.publish.spot_checks import draw_spot_checks

    candidates = data.published_a_images(cfg.store, promotion)
    queued = cfg.queue.image_keys(promotion)
    share = cfg.grading.spot_check_share if cfg.grading else 0.05
    minimum = cfg.grading.spot_check_min_per_stratum if cfg.grading else 1
    salt = f"{promotion}:{len(queued)}"  # reproducible for a given queue, and a new draw after every draw
    drawn = draw_spot_checks(candidates, share=share, min_per_stratum=minimum, salt=salt, already=queued)
    for g in drawn:
        cfg.queue.enqueue({
            "kind": "spot_check", "promotion": promotion, "sku": g["sku"], "role": g["role"],
            "platform": g["platform"], "attempt": g["attempt"], "image_key": g["image_key"], "sha256": g["sha256"],
            "grade": "A", "template_id": g.get("template_id"), "failed_metrics": [],
            "reasons": [f"spot check: a published A ({g.get('template_id') or 'template ?'} on {g['platform']})"],
        })
    return len(drawn), len(candidates)


async def draw_spot_checks_post(request: Request):
    form = await checked_form(request)
    reviewer(request)
    promotion = str(form.get("promotion") or "")
    cfg = desk(request)
    if promotion not in await blocking(data.promotions_in_store, cfg.store):
        raise HTTPException(404, "no graded images for this promotion")
    drawn, candidates = await blocking(draw_sample, cfg, promotion)
    flash(request, "ok" if drawn else "warn",
          f"{promotion}: drew {drawn} of {candidates} published A image(s) for a spot check"
          + ("" if drawn else " (every stratum has its sample already, or nothing is published)"))
    return redirect(f"/queue?kind=spot_check&promotion={promotion}" if drawn else "/spot-checks")


async def scorecard_page(request: Request):
    cfg = desk(request)
    promotions = await blocking(data.promotions_in_store, cfg.store)
    promotion = request.query_params.get("promotion") or (promotions[0] if promotions else None)
    if promotion is not None and promotion not in promotions:
        raise HTTPException(404, "no graded images for this promotion")
    rows = await blocking(data.promotion_scorecard, cfg.store, cfg.queue, promotion) if promotion else []
    return render(request, "scorecard.html", rows=rows, promotion=promotion, promotions=promotions)


async def publish_now(request: Request):
    """POST /publish: launch graded_sets + cdn_publish of one SKU's partition and its promotion's manifest on the
    Dagster instance (GraphQL, as `skustudio backfill` does): approvals publish, rejections regenerate."""
    from orchestration.graphql_client import DagsterGraphQL, DagsterGraphQLError
    from orchestration.review_desk.publish_now import partition_refresh_params

    form = await checked_form(request)
    reviewer(request)
    cfg = desk(request)
    promotion, sku = str(form.get("promotion") or ""), str(form.get("sku") or "")
    back = safe_next(str(form.get("next") or ""))
    partition = f"{promotion}|{sku}"
    if not cfg.dagster_url:
        flash(request, "warn", f"No Dagster instance URL is configured (SKUSTUDIO_DAGSTER_URL, or --dagster-url), so "
              f"nothing was launched: decisions take effect with the next cdn_publish of {partition} (or run "
              f"`skustudio review approve ID --publish` where the instance lives).")
        return redirect(back)
    client = DagsterGraphQL(cfg.dagster_url, timeout_s=30)
    try:
        params = partition_refresh_params(promotion, sku)
        backfill_id = await blocking(client.launch_backfill, params)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except DagsterGraphQLError as exc:
        flash(request, "warn", f"publish now failed: {exc}")
        return redirect(back)
    flash(request, "ok", f"launched {partition} (graded_sets, cdn_publish, then the manifest): backfill {backfill_id}, "
          f"{client.ui_backfill_url(backfill_id)}")
    return redirect(back)


async def healthz(request: Request):
    return PlainTextResponse("ok")


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/audit", audit_page, methods=["GET"]),
    Route("/spot-checks", spot_checks_page, methods=["GET"]),
    Route("/spot-checks/draw", draw_spot_checks_post, methods=["POST"]),
    Route("/scorecard", scorecard_page, methods=["GET"]),
    Route("/publish", publish_now, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
