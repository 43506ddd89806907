"""What every page handler shares: the desk's config, templates (Jinja2, autoescape always on: catalog text is
escaped wherever it appears), CSRF-checked forms, flash messages, the reviewer's name, the queue filters."""
from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from orchestration.review_desk.config import DeskConfig

HERE = Path(__file__).parent
FILTERS = ("promotion", "kind", "platform", "role", "reason")

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def desk(request: Request) -> DeskConfig:
    return request.app.state.desk


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every form carries it in a hidden field."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def checked_form(request: Request):
    """The POSTed form, after checking its CSRF token against the session's: 403 without a match."""
    form = await request.form()
    sent, have = str(form.get("csrf") or ""), str(request.session.get("csrf") or "")
    if not sent or not have or not hmac.compare_digest(sent.encode(), have.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


def reviewer(request: Request) -> str:
    name = request.session.get("reviewer")
    if not name:
        raise HTTPException(403, "no decision without a reviewer name: sign in first")
    return name


def flash(request: Request, kind: str, text: str) -> None:
    request.session["flash"] = [*request.session.get("flash", [])[-4:], [kind, text]]


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    messages = request.session.pop("flash", []) if "flash" in request.session else []
    html = ENV.get_template(template).render(
        request=request, csrf=csrf_token(request), me=request.session.get("reviewer"), messages=messages,
        path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)  # after a POST: the browser GETs the next page


def safe_next(url: str | None, default: str = "/queue") -> str:
    """A local path to return to (never another site: no scheme, no //host)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def filters_of(params) -> dict[str, str]:
    """The queue filters in a query string or form (empty values left out)."""
    out = {}
    for name in FILTERS:
        value = str(params.get(name) or "").strip()
        if value:
            out[name] = value[:200]
    out.setdefault("kind", "review")
    return out


def query(filters: dict, **extra) -> str:
    items = {**filters, **{k: v for k, v in extra.items() if v not in (None, "")}}
    return urlencode(items)


def int_param(value, default: int, low: int = 0, high: int = 10**9) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


async def blocking(fn, *args, **kwargs):
    """Run a database or store call off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)
