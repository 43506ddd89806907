"""The review queue: B images waiting for a person to approve or reject them.

One SQLite file (stdlib `sqlite3`, WAL journal, one table `review_items`), so several Dagster processes and the
command-line tool can share it. A row is one image, keyed by `image_key` (the image's storage key); enqueueing the
same key again (a rerun) updates its facts and keeps its decision. A decision is bound to the image content: it
records the sha256 the reviewer saw, and applies only while the row's sha256 is the same. A rerun that produces
different bytes under the same key, or a regenerated image (a new key), needs a new decision.

Decisions: "approve" (published like an A) or "reject" (never published). `export_decisions()` gives the rows
for lineage.
"""
from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["ReviewQueue", "UnknownReviewItem", "DECISIONS"]

DECISIONS = ("approve", "reject")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_items (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    image_key     TEXT NOT NULL UNIQUE,
    promotion     TEXT NOT NULL,
    sku           TEXT NOT NULL,
    role          TEXT,
    platform      TEXT,
    attempt       INTEGER,
    sha256        TEXT NOT NULL,
    reasons       TEXT NOT NULL DEFAULT '[]',
    enqueued_at   TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    decision      TEXT CHECK (decision IS NULL OR decision IN ('approve', 'reject')),
    decided_sha256 TEXT,
    reviewer      TEXT,
    note          TEXT,
    decided_at    TEXT
);
CREATE INDEX IF NOT EXISTS review_items_promotion ON review_items (promotion, sku);
"""

_REQUIRED = ("image_key", "promotion", "sku", "sha256")


class UnknownReviewItem(KeyError):
    def __str__(self):  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown review item"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ReviewQueue:
    """A review queue in the SQLite file at `path` (created with its folder on first use)."""

    def __init__(self, path: str | os.PathLike, timeout_s: float = 30.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextmanager
    def _conn(self):
        with closing(sqlite3.connect(self.path, timeout=self.timeout_s)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = %d" % int(self.timeout_s * 1000))
            with conn:  # one transaction: commit on success, roll back on error
                yield conn

    # ------------------------------------------------------------------------------------------------------
    def enqueue(self, item: dict) -> int:
        """Add a B image (or refresh it on a rerun). `item`: image_key, promotion, sku, sha256 (required);
        role, platform, attempt, reasons (list of str) optional. Returns the row id. Idempotent on image_key:
        the decision stays, and applies again only if sha256 is unchanged."""
        missing = [k for k in _REQUIRED if not item.get(k)]
        if missing:
            raise ValueError(f"ReviewQueue.enqueue: missing {missing} in item with keys {sorted(item)}")
        reasons = item.get("reasons") or []
        if isinstance(reasons, str):
            reasons = [reasons]
        now = _now()
        with self._conn() as conn:
            conn.execute(
                """INSERT INTO review_items (image_key, promotion, sku, role, platform, attempt, sha256, reasons,
                                             enqueued_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(image_key) DO UPDATE SET
                       promotion = excluded.promotion, sku = excluded.sku, role = excluded.role,
                       platform = excluded.platform, attempt = excluded.attempt, sha256 = excluded.sha256,
                       reasons = excluded.reasons, updated_at = excluded.updated_at""",
                (str(item["image_key"]), str(item["promotion"]), str(item["sku"]), item.get("role"),
                 item.get("platform"), None if item.get("attempt") is None else int(item["attempt"]),
                 str(item["sha256"]), json.dumps(list(reasons), ensure_ascii=False), now, now),
            )
            row = conn.execute("SELECT id FROM review_items WHERE image_key = ?", (str(item["image_key"]),)).fetchone()
        return int(row["id"])

    def pending(self, promotion: str | None = None) -> list[dict]:
        """Items without a decision that applies to their current content, oldest first."""
        return [self._row(r) for r in self._select("(decision IS NULL OR decided_sha256 IS NOT sha256)", promotion)]

    def get(self, image_key_or_id: str | int) -> dict:
        with self._conn() as conn:
            return self._row(self._find(conn, image_key_or_id))

    def decide(self, image_key_or_id: str | int, decision: str, reviewer: str, note: str | None = None) -> dict:
        """Record a decision on the item's current content. `image_key_or_id`: an int (or digit string) is a row
        id, anything else an image_key. Raises UnknownReviewItem or ValueError with a clear message."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        if not reviewer or not str(reviewer).strip():
            raise ValueError("a decision needs a reviewer name")
        with self._conn() as conn:
            row = self._find(conn, image_key_or_id)
            conn.execute(
                """UPDATE review_items SET decision = ?, decided_sha256 = ?, reviewer = ?, note = ?, decided_at = ?
                   WHERE id = ?""",
                (decision, row["sha256"], str(reviewer).strip(), note, _now(), row["id"]),
            )
            row = conn.execute("SELECT * FROM review_items WHERE id = ?", (row["id"],)).fetchone()
        return self._row(row)

    def decision_for(self, image_key: str, sha256: str | None = None) -> str | None:
        """"approve" | "reject" for the image's current content (or for `sha256` when given), else None.
        Unknown image keys give None (never queued means never approved)."""
        with self._conn() as conn:
            row = conn.execute("SELECT * FROM review_items WHERE image_key = ?", (str(image_key),)).fetchone()
        if row is None or row["decision"] is None:
            return None
        content = sha256 if sha256 is not None else row["sha256"]
        return row["decision"] if row["decided_sha256"] == content else None

    def export_decisions(self, promotion: str | None = None) -> list[dict]:
        """Every recorded decision (image_key, promotion, sku, role, platform, attempt, sha256 decided on,
        decision, reviewer, note, decided_at, current: whether it still applies to the queued content)."""
        rows = self._select("decision IS NOT NULL", promotion)
        return [
            {
                "image_key": r["image_key"], "promotion": r["promotion"], "sku": r["sku"], "role": r["role"],
                "platform": r["platform"], "attempt": r["attempt"], "sha256": r["decided_sha256"],
                "decision": r["decision"], "reviewer": r["reviewer"], "note": r["note"],
                "decided_at": r["decided_at"], "current": r["decided_sha256"] == r["sha256"],
            }
            for r in rows
        ]

    # ------------------------------------------------------------------------------------------------------
    def _select(self, condition: str, promotion: str | None) -> list:
        """Rows matching `condition` (a fixed SQL fragment, never user text), optionally of one promotion."""
        sql, args = f"SELECT * FROM review_items WHERE {condition}", ()
        if promotion is not None:
            sql, args = sql + " AND promotion = ?", (promotion,)
        with self._conn() as conn:
            return conn.execute(sql + " ORDER BY id", args).fetchall()

    def _find(self, conn, image_key_or_id):
        if isinstance(image_key_or_id, bool):
            raise TypeError("image_key_or_id must be an image key or a row id")
        if isinstance(image_key_or_id, int) or (isinstance(image_key_or_id, str) and image_key_or_id.isdigit()):
            row = conn.execute("SELECT * FROM review_items WHERE id = ?", (int(image_key_or_id),)).fetchone()
            if row is None and isinstance(image_key_or_id, str):
                row = conn.execute("SELECT * FROM review_items WHERE image_key = ?", (image_key_or_id,)).fetchone()
        else:
            row = conn.execute("SELECT * FROM review_items WHERE image_key = ?", (str(image_key_or_id),)).fetchone()
        if row is None:
            raise UnknownReviewItem(f"no review item with id or image_key {image_key_or_id!r} in {self.path}")
        return row

    @staticmethod
    def _row(r) -> dict:
        d = dict(r)
        d["reasons"] = json.loads(d["reasons"]) if d.get("reasons") else []
        d["decision_current"] = d["decision"] is not None and d["decided_sha256"] == d["sha256"]
        return d
