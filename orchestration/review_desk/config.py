"""What the review desk runs with, and who may use it.

Access: by default the desk listens on 127.0.0.1 only, and whoever can reach it types their name (every decision
carries it). Bound to any other address it refuses to start unless reviewer credentials are configured, from the
environment or a file, never in code:

    SKUSTUDIO_REVIEWERS_FILE  a file of lines "name:scrypt$..." ('#' starts a comment)
    SKUSTUDIO_REVIEWERS       the same entries separated by whitespace
    SKUSTUDIO_REVIEW_SECRET / SKUSTUDIO_REVIEW_SECRET_FILE
                              the key that signs session cookies (a random one per process when unset: sessions
                              then end when the desk restarts)

`skustudio review hash-password NAME` prints an entry; passwords are stored only as scrypt hashes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
DEFAULT_PORT = 8765


class RefusedToStart(Exception):
    """The desk's settings would expose it: the message says what to configure."""


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """"scrypt$n$r$p$salt$hash" (base64) for a password."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    enc = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${n}${r}${p}${enc(salt)}${enc(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches an entry made by `hash_password` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = encoded.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def parse_reviewers(text: str, where: str) -> dict[str, str]:
    """name -> scrypt entry from "name:scrypt$..." entries (lines or whitespace separated)."""
    out = {}
    for raw in text.replace("\r", "\n").split():
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, sep, encoded = entry.partition(":")
        if not sep or not name or not encoded.startswith("scrypt$") or encoded.count("$") != 5:
            raise RefusedToStart(f"{where}: bad reviewer entry {name or entry[:20]!r}: expected name:scrypt$... "
                                 "(make one with `skustudio review hash-password NAME`)")
        out[name] = encoded
    return out


def load_reviewers(env=None, file: str | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    reviewers: dict[str, str] = {}
    path = file or env.get("SKUSTUDIO_REVIEWERS_FILE")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RefusedToStart(f"cannot read the reviewers file {path}: {exc}") from exc
        lines = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        reviewers.update(parse_reviewers(lines, path))
    if env.get("SKUSTUDIO_REVIEWERS"):
        reviewers.update(parse_reviewers(env["SKUSTUDIO_REVIEWERS"], "SKUSTUDIO_REVIEWERS"))
    return reviewers


def load_secret(env=None) -> tuple[str, bool]:
    """(the session-signing secret, whether it was made up for this process)."""
    env = os.environ if env is None else env
    if env.get("SKUSTUDIO_REVIEW_SECRET"):
        return env["SKUSTUDIO_REVIEW_SECRET"], False
    if env.get("SKUSTUDIO_REVIEW_SECRET_FILE"):
        path = env["SKUSTUDIO_REVIEW_SECRET_FILE"]
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RefusedToStart(f"cannot read the session secret file {path}: {exc}") from exc
        if len(secret) < 16:
            raise RefusedToStart(f"the session secret in {path} is too short (16 characters at least)")
        return secret, False
    return secrets.token_urlsafe(32), True


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


def check_bind(host: str, reviewers: dict[str, str]) -> None:
    """Refuse a non-loopback address without reviewer credentials."""
    if not is_loopback(host) and not reviewers:
        raise RefusedToStart(
            f"refusing to listen on {host}: reviewer credentials are required on any address but loopback. "
            "Set SKUSTUDIO_REVIEWERS_FILE (lines name:scrypt$..., made with `skustudio review hash-password "
            "NAME`) or SKUSTUDIO_REVIEWERS, and SKUSTUDIO_REVIEW_SECRET for the session cookies; or listen on "
            "127.0.0.1 behind your own proxy.")


@dataclass
class DeskConfig:
    """What the desk reads and writes: the same review queue and store as the CLI and the pipeline."""

    queue: Any  # skucore.publish.review.ReviewQueue
    store: Any  # resources.storage.StudioStore
    catalog_source: Any = None  # resources.catalog.CatalogSource: reads source photos
    grading: Any = None  # resources.quality.GradingSettings: spot-check sample sizes
    reviewers: dict[str, str] = field(default_factory=dict)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    dagster_url: str | None = None  # the Dagster webserver "publish now" launches runs on
    page_size: int = 48
    https_only: bool = False  # mark the session cookie Secure (behind an HTTPS proxy)
    thumb_side: int = 320
    preview_side: int = 720

    @property
    def needs_password(self) -> bool:
        return bool(self.reviewers)

    @classmethod
    def from_resources(cls, resources: dict, *, db: str | None = None, **kwargs) -> "DeskConfig":
        from skucore.publish.review import ReviewQueue

        grading = resources["grading"]
        return cls(queue=ReviewQueue(db or grading.review_db), store=resources["store"],
                   catalog_source=resources.get("catalog_source"), grading=grading, **kwargs)
