"""The review desk as a Starlette application: routes, signed-cookie sessions, sign-in required on every page but
the sign-in page itself, security headers, and the server time of every response (Server-Timing)."""
from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestration.review_desk import media, pages_item, pages_more, pages_queue
from orchestration.review_desk.config import DeskConfig
from orchestration.review_desk.data import CatalogCache
from orchestration.review_desk.web import HERE, render

OPEN_PATHS = ("/login", "/static/", "/healthz")
SECURITY_HEADERS = {
    # Scripts and styles from the desk only (no inline code), images from the desk, no framing, no referrer leaks.
    "content-security-policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class DeskGuard:
    """Pages need a reviewer in the session (else to /login); every response gets the security headers and a
    Server-Timing header with the time the desk spent on it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        if not path.startswith(OPEN_PATHS) and not scope["session"].get("reviewer"):
            request = Request(scope)
            if request.method == "GET" and not is_media(path):
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
            else:
                response = PlainTextResponse("sign in first", status_code=403)
            await response(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                ms = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={ms:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_media(path: str) -> bool:
    """Image URLs (answered in plain text when refused, never redirected to a page)."""
    parts = path.split("/")
    return path.startswith("/image/") or (len(parts) > 3 and parts[1] == "item" and parts[3] in ("source", "cutout", "attempt"))


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


async def http_error(request: Request, exc: HTTPException):
    if is_media(request.url.path) or request.url.path.startswith("/static/"):
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
    return render(request, "message.html", status_code=exc.status_code, title=f"{exc.status_code}", text=exc.detail)


def create_app(config: DeskConfig) -> Starlette:
    """The desk over `config`'s review queue and store."""
    app = Starlette(
        routes=[*pages_queue.ROUTES, *pages_item.ROUTES, *pages_more.ROUTES, *media.ROUTES,
                Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static")],
        middleware=[
            Middleware(SessionMiddleware, secret_key=config.secret, session_cookie="skustudio_review",
                       same_site="lax", https_only=config.https_only, max_age=12 * 3600),
            Middleware(DeskGuard),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.desk = config
    app.state.catalog = CatalogCache(config.store)
    return app
