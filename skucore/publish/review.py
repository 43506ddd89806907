"""The review queue: images waiting for a person to approve or reject them.

One database, named by a path (a SQLite file, the embedded default) or a URL (PostgreSQL in production, so every
host shares it); one code path for both (SQLAlchemy Core; tables in `skucore.publish.review_schema`). A row is one
image, keyed by `image_key` (its storage key): B images that need a decision ("review") and published A's drawn
for a spot check ("spot_check"). Enqueueing the same key again (a rerun) updates its facts and keeps its decision.

- A decision is bound to the image content: it records the sha256 the reviewer saw and applies only while the
  row's sha256 is the same. Different bytes under the same key, or a regenerated image (a new key), need a new one.
- Superseded attempts drop out: a newer image of the same scene (promotion, sku, role, platform) supersedes the
  older ones, and `pending` lists the newest attempt of each scene only.
- Two reviewers never decide the same image twice: a decision is a conditional UPDATE on the row's version, so
  the second one raises `AlreadyDecided` with who decided and when. To change a decision, undo it first.
- Every decision and undo is an entry in the audit table (an undo never deletes anything).
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from skucore.prompting.review_reasons import REVIEW_REASONS
from skucore.publish.review_schema import AUDIT, ITEMS, database_url, display_url, ensure_schema, scene_of

__all__ = ["ReviewQueue", "UnknownReviewItem", "AlreadyDecided", "NotDecided", "ItemChanged", "DECISIONS", "KINDS",
           "queue_exists"]

DECISIONS = ("approve", "reject")
KINDS = ("review", "spot_check")
_REQUIRED = ("image_key", "promotion", "sku", "sha256")
_METRIC_REASON = re.compile(r"^([a-z][a-z0-9_]*)(?::|$)")


class UnknownReviewItem(KeyError):
    def __str__(self):  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown review item"


class AlreadyDecided(Exception):
    """Someone decided this image (its current content) already; `item` is the row as it is now."""

    def __init__(self, item: dict):
        self.item = item
        super().__init__(f"#{item['id']} was already decided: {item['decision']} by {item['reviewer']} at "
                         f"{item['decided_at']}; undo it first to change the decision")


class NotDecided(Exception):
    """An undo of an image without a decision."""


class ItemChanged(Exception):
    """The row changed since the page showed it (another decision, an undo, or new content from a rerun)."""

    def __init__(self, item: dict, what: str):
        self.item = item
        super().__init__(f"#{item['id']} changed since you saw it ({what}); reload it")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def failed_metric_tags(reasons) -> list[str]:
    """Metric names (and markers such as max_attempts_reached) from grading reasons ("sharpness: failed ...")."""
    tags = []
    for r in reasons or []:
        m = _METRIC_REASON.match(str(r))
        if m and m.group(1) not in tags and m.group(1) not in ("score", "never", "generated"):
            tags.append(m.group(1))
    return tags


def queue_exists(path_or_url: str | os.PathLike) -> bool:
    """Whether there is a queue to read: a SQLite file exists (listing never creates one); a server URL: always."""
    url = database_url(path_or_url)
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).exists()
    return True


class ReviewQueue:
    """The review queue at `db`: a SQLite file path (created with its folder on first use) or a database URL."""

    def __init__(self, db: str | os.PathLike, timeout_s: float = 30.0):
        self.url = database_url(db)
        self.dialect = self.url.split(":", 1)[0].split("+", 1)[0]
        self.path = Path(self.url[len("sqlite:///"):]) if self.dialect == "sqlite" else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                self.url, connect_args={"timeout": timeout_s, "check_same_thread": False}, pool_pre_ping=False
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas(timeout_s))
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        ensure_schema(self.engine)

    def __repr__(self) -> str:
        return f"ReviewQueue({self.where!r})"

    @property
    def where(self) -> str:
        """The queue's location without credentials (a file path or a redacted URL)."""
        return str(self.path) if self.path is not None else display_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    # ---- the pipeline's side -------------------------------------------------------------------------------
    def enqueue(self, item: dict) -> int:
        """Add an image (or refresh it on a rerun) and supersede the other images of its scene. `item`: image_key,
        promotion, sku, sha256 (required); kind ("review" default, or "spot_check"), role, platform, attempt,
        template_id, grade, reasons (list of str), failed_metrics optional. Returns the row id. Idempotent on
        image_key: the decision stays, and applies again only if sha256 is unchanged."""
        missing = [k for k in _REQUIRED if not item.get(k)]
        if missing:
            raise ValueError(f"ReviewQueue.enqueue: missing {missing} in item with keys {sorted(item)}")
        kind = item.get("kind") or "review"
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        reasons = item.get("reasons") or []
        reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        failed = item.get("failed_metrics")
        failed = failed_metric_tags(reasons) if failed is None else list(failed)
        now = _now()
        key = str(item["image_key"])
        scene = scene_of(str(item["promotion"]), str(item["sku"]), item.get("role"), item.get("platform"))
        facts = {
            "promotion": str(item["promotion"]), "sku": str(item["sku"]), "role": item.get("role"),
            "platform": item.get("platform"), "scene": scene, "template_id": item.get("template_id"),
            "grade": item.get("grade"), "attempt": None if item.get("attempt") is None else int(item["attempt"]),
            "sha256": str(item["sha256"]), "reasons": json.dumps(reasons, ensure_ascii=False),
            "failed_metrics": json.dumps(failed), "updated_at": now,
        }
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(ITEMS).where(ITEMS.c.image_key == key)).mappings().first()
            if row is None:
                conn.execute(ITEMS.insert().values(image_key=key, kind=kind, enqueued_at=now, superseded=False,
                                                   awaiting=True, version=0, **facts))
            else:
                changed = row["sha256"] != facts["sha256"] or row["superseded"]
                # A spot check of an image that is now a B keeps its row; a B is never turned into a spot check.
                new_kind = "review" if "review" in (kind, row["kind"]) else kind
                awaiting = row["decision"] is None or row["decided_sha256"] != facts["sha256"]
                conn.execute(ITEMS.update().where(ITEMS.c.id == row["id"]).values(
                    kind=new_kind, superseded=False, awaiting=awaiting, version=ITEMS.c.version + int(bool(changed)),
                    **facts))
            conn.execute(ITEMS.update().where(ITEMS.c.scene == scene, ITEMS.c.image_key != key,
                                              ITEMS.c.superseded.is_(False))
                         .values(superseded=True, awaiting=False, version=ITEMS.c.version + 1, updated_at=now))
            return int(conn.execute(sa.select(ITEMS.c.id).where(ITEMS.c.image_key == key)).scalar_one())

    def keep_current(self, promotion: str, sku: str, current: dict[tuple[str, str], str]) -> int:
        """After grading: `current` maps each (role, platform) of the SKU to its final image key; queued images
        of those scenes under other keys are superseded (they are no longer what would be published). Returns how
        many were."""
        if not current:
            return 0
        scenes = {scene_of(promotion, sku, role, platform): key for (role, platform), key in current.items()}
        done = 0
        with self.engine.begin() as conn:
            for scene, key in scenes.items():
                done += conn.execute(
                    ITEMS.update().where(ITEMS.c.scene == scene, ITEMS.c.image_key != key, ITEMS.c.superseded.is_(False))
                    .values(superseded=True, awaiting=False, version=ITEMS.c.version + 1, updated_at=_now())).rowcount
        return done

    def decision_for(self, image_key: str, sha256: str | None = None) -> str | None:
        """"approve" | "reject" for the image's current content (or for `sha256` when given), else None.
        Unknown image keys give None (never queued means never approved)."""
        row = self.find(image_key)
        return _decision_on(row, sha256)

    def decisions_for(self, images: list[tuple[str, str | None]]) -> dict[str, str | None]:
        """`decision_for` of many (image_key, sha256) pairs in one query: image_key -> decision."""
        keys = [k for k, _ in images]
        rows = {}
        with self.engine.connect() as conn:
            for chunk in range(0, len(keys), 500):
                sel = sa.select(ITEMS).where(ITEMS.c.image_key.in_(keys[chunk:chunk + 500]))
                rows.update({r["image_key"]: dict(r) for r in conn.execute(sel).mappings()})
        return {k: _decision_on(rows.get(k), sha) for k, sha in images}

    def rejection_for(self, image_key: str, sha256: str) -> dict | None:
        """The reviewer's rejection of this content ({reason, note, reviewer, decided_at, kind}), else None."""
        row = self.find(image_key)
        if _decision_on(row, sha256) != "reject":
            return None
        return {k: row[k] for k in ("reason", "note", "reviewer", "decided_at", "kind")}

    # ---- the reviewers' side ---------------------------------------------------------------------------------
    def find(self, image_key: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ITEMS).where(ITEMS.c.image_key == str(image_key))).mappings().first()
        return _item(row) if row is not None else None

    def get(self, image_key_or_id: str | int) -> dict:
        with self.engine.connect() as conn:
            return _item(self._find(conn, image_key_or_id))

    def pending(self, promotion: str | None = None, *, kind: str | None = None, platform: str | None = None,
                role: str | None = None, reason: str | None = None, limit: int | None = None,
                offset: int = 0) -> list[dict]:
        """Items awaiting a decision on their current content, newest attempt of each scene only, oldest first;
        filtered by promotion, kind, platform, scene role and reason tag (a failed metric name)."""
        sel = sa.select(ITEMS).where(*self._open(promotion, kind, platform, role, reason)).order_by(ITEMS.c.id)
        if limit is not None:
            sel = sel.limit(int(limit)).offset(int(offset))
        with self.engine.connect() as conn:
            return [_item(r) for r in conn.execute(sel).mappings()]

    def pending_ids(self, promotion=None, *, kind=None, platform=None, role=None, reason=None) -> list[int]:
        sel = sa.select(ITEMS.c.id).where(*self._open(promotion, kind, platform, role, reason)).order_by(ITEMS.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(sel).scalars())

    def count_pending(self, promotion=None, *, kind=None, platform=None, role=None, reason=None) -> int:
        sel = sa.select(sa.func.count()).select_from(ITEMS).where(*self._open(promotion, kind, platform, role, reason))
        with self.engine.connect() as conn:
            return int(conn.execute(sel).scalar_one())

    def pending_counts(self) -> dict[str, dict[str, int]]:
        """promotion -> {kind: images awaiting a decision} (every promotion with any queued image is listed)."""
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for (p,) in conn.execute(sa.select(ITEMS.c.promotion).distinct().order_by(ITEMS.c.promotion)):
                out[p] = {k: 0 for k in KINDS}
            sel = (sa.select(ITEMS.c.promotion, ITEMS.c.kind, sa.func.count()).where(*self._open(None, None, None, None, None))
                   .group_by(ITEMS.c.promotion, ITEMS.c.kind))
            for p, k, n in conn.execute(sel):
                out.setdefault(p, {k2: 0 for k2 in KINDS})[k] = int(n)
        return out

    def facets(self, promotion=None, *, kind=None) -> dict[str, list[str]]:
        """The values the queue's filters offer: platforms, roles and reason tags among pending items."""
        c = ITEMS.c
        sel = sa.select(c.platform, c.role, c.failed_metrics).where(*self._open(promotion, kind, None, None, None))
        with self.engine.connect() as conn:
            combos = conn.execute(sel.distinct()).all()
        return {"platforms": sorted({p for p, _, _ in combos if p}), "roles": sorted({r for _, r, _ in combos if r}),
                "reasons": sorted({t for _, _, text in combos for t in json.loads(text or "[]")})}

    def items_of_sku(self, promotion: str, sku: str) -> list[dict]:
        """Every queued image of a SKU (any state), oldest first."""
        sel = sa.select(ITEMS).where(ITEMS.c.promotion == promotion, ITEMS.c.sku == sku).order_by(ITEMS.c.id)
        with self.engine.connect() as conn:
            return [_item(r) for r in conn.execute(sel).mappings()]

    def image_keys(self, promotion: str) -> set[str]:
        """Every image key queued for a promotion (any kind, any state)."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(ITEMS.c.image_key).where(ITEMS.c.promotion == promotion)).scalars())

    def decide(self, image_key_or_id: str | int, decision: str, reviewer: str, note: str | None = None, *,
               reason: str | None = None, expected_version: int | None = None,
               expected_sha256: str | None = None) -> dict:
        """Record a decision on the item's current content. `image_key_or_id`: an int (or digit string) is a row
        id, anything else an image_key. `reason`: a rejection's code from REVIEW_REASONS. `expected_version` /
        `expected_sha256`: what the reviewer saw (the desk passes both). Raises UnknownReviewItem, AlreadyDecided,
        ItemChanged or ValueError with a clear message."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        reviewer = _reviewer(reviewer)
        if reason is not None and reason not in REVIEW_REASONS:
            raise ValueError(f"unknown reason {reason!r}; known: {', '.join(REVIEW_REASONS)}")
        if decision == "approve":
            reason = None
        note = (str(note).strip() or None) if note is not None else None
        with self.engine.begin() as conn:
            row = _item(self._find(conn, image_key_or_id))
            self._check_seen(row, expected_version, expected_sha256)
            if row["decision_current"]:
                raise AlreadyDecided(row)
            now = _now()
            done = conn.execute(ITEMS.update().where(ITEMS.c.id == row["id"], ITEMS.c.version == row["version"]).values(
                decision=decision, decided_sha256=row["sha256"], reviewer=reviewer, reason=reason, note=note,
                decided_at=now, awaiting=False, version=row["version"] + 1)).rowcount
            if done != 1:  # another reviewer's decision (or an undo, or a rerun) got there first
                raise AlreadyDecided(_item(self._find(conn, row["id"])))
            conn.execute(AUDIT.insert().values(**_audit(row, decision, reviewer, now, reason=reason, note=note)))
            return _item(self._find(conn, row["id"]))

    def undo(self, image_key_or_id: str | int, reviewer: str, note: str | None = None, *,
             expected_version: int | None = None) -> dict:
        """Take back the item's current decision (it is pending again). Recorded as a new audit entry that names
        the decision it undoes. Raises NotDecided when there is nothing to undo."""
        reviewer = _reviewer(reviewer)
        with self.engine.begin() as conn:
            row = _item(self._find(conn, image_key_or_id))
            self._check_seen(row, expected_version, None)
            if row["decision"] is None:
                raise NotDecided(f"#{row['id']} has no decision to undo")
            last = conn.execute(sa.select(AUDIT.c.id).where(AUDIT.c.item_id == row["id"], AUDIT.c.action != "undo")
                                .order_by(AUDIT.c.id.desc()).limit(1)).scalar()
            now = _now()
            done = conn.execute(ITEMS.update().where(ITEMS.c.id == row["id"], ITEMS.c.version == row["version"]).values(
                decision=None, decided_sha256=None, reviewer=None, reason=None, note=None, decided_at=None,
                awaiting=not row["superseded"], version=row["version"] + 1)).rowcount
            if done != 1:
                raise ItemChanged(_item(self._find(conn, row["id"])), "someone changed it meanwhile")
            audit = _audit(row, "undo", reviewer, now, reason=row["reason"], note=note, undoes=last)
            audit["sha256"] = row["decided_sha256"] or row["sha256"]
            conn.execute(AUDIT.insert().values(**audit))
            return _item(self._find(conn, row["id"]))

    def audit(self, promotion: str | None = None, *, item_id: int | None = None, limit: int = 100,
              offset: int = 0) -> list[dict]:
        """Audit entries, newest first."""
        sel = sa.select(AUDIT).order_by(AUDIT.c.id.desc()).limit(int(limit)).offset(int(offset))
        if promotion is not None:
            sel = sel.where(AUDIT.c.promotion == promotion)
        if item_id is not None:
            sel = sel.where(AUDIT.c.item_id == int(item_id))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sel).mappings()]

    def count_audit(self, promotion: str | None = None) -> int:
        sel = sa.select(sa.func.count()).select_from(AUDIT)
        if promotion is not None:
            sel = sel.where(AUDIT.c.promotion == promotion)
        with self.engine.connect() as conn:
            return int(conn.execute(sel).scalar_one())

    def export_decisions(self, promotion: str | None = None) -> list[dict]:
        """Every recorded decision (image_key, promotion, sku, role, platform, attempt, sha256 decided on,
        decision, reason, reviewer, note, decided_at, kind, current: whether it still applies to the content)."""
        sel = sa.select(ITEMS).where(ITEMS.c.decision.is_not(None)).order_by(ITEMS.c.id)
        if promotion is not None:
            sel = sel.where(ITEMS.c.promotion == promotion)
        with self.engine.connect() as conn:
            rows = [_item(r) for r in conn.execute(sel).mappings()]
        return [
            {"image_key": r["image_key"], "promotion": r["promotion"], "sku": r["sku"], "role": r["role"],
             "platform": r["platform"], "attempt": r["attempt"], "sha256": r["decided_sha256"],
             "decision": r["decision"], "reason": r["reason"], "reviewer": r["reviewer"], "note": r["note"],
             "decided_at": r["decided_at"], "kind": r["kind"], "template_id": r["template_id"],
             "current": r["decision_current"]}
            for r in rows
        ]

    # ------------------------------------------------------------------------------------------------------
    @staticmethod
    def _open(promotion, kind, platform, role, reason) -> list:
        """Conditions of "awaiting a decision" (not superseded, no decision on the current content: the `awaiting`
        column every write keeps), and the filters."""
        c = ITEMS.c
        cond = [c.awaiting == sa.true()]
        for col, value in ((c.promotion, promotion), (c.kind, kind), (c.platform, platform), (c.role, role)):
            if value is not None:
                cond.append(col == value)
        if reason is not None:  # a JSON list of plain metric names: match the quoted name
            cond.append(c.failed_metrics.contains(json.dumps(str(reason)), autoescape=True))
        return cond

    @staticmethod
    def _check_seen(row: dict, expected_version: int | None, expected_sha256: str | None) -> None:
        if expected_sha256 is not None and row["sha256"] != expected_sha256:
            raise ItemChanged(row, "a rerun replaced the image's content")
        if expected_version is not None and row["version"] != int(expected_version):
            if row["decision_current"]:
                raise AlreadyDecided(row)
            raise ItemChanged(row, f"version {row['version']}, you saw {expected_version}")

    def _find(self, conn, image_key_or_id):
        if isinstance(image_key_or_id, bool):
            raise TypeError("image_key_or_id must be an image key or a row id")
        row = None
        if isinstance(image_key_or_id, int) or (isinstance(image_key_or_id, str) and image_key_or_id.isdigit()):
            row = conn.execute(sa.select(ITEMS).where(ITEMS.c.id == int(image_key_or_id))).mappings().first()
        if row is None and not isinstance(image_key_or_id, int):
            row = conn.execute(sa.select(ITEMS).where(ITEMS.c.image_key == str(image_key_or_id))).mappings().first()
        if row is None:
            raise UnknownReviewItem(f"no review item with id or image_key {image_key_or_id!r} in {self.where}")
        return row


def _sqlite_pragmas(timeout_s: float):
    def on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer (CLI, desk and pipeline share it)
        cur.execute("PRAGMA busy_timeout = %d" % int(timeout_s * 1000))
        cur.close()
    return on_connect


def _reviewer(reviewer) -> str:
    if not reviewer or not str(reviewer).strip():
        raise ValueError("a decision needs a reviewer name")
    return str(reviewer).strip()[:120]


def _decision_on(row: dict | None, sha256: str | None) -> str | None:
    if row is None or row["decision"] is None:
        return None
    content = sha256 if sha256 is not None else row["sha256"]
    return row["decision"] if row["decided_sha256"] == content else None


def _audit(row: dict, action: str, reviewer: str, at: str, **extra) -> dict:
    return {"item_id": row["id"], "image_key": row["image_key"], "kind": row["kind"], "promotion": row["promotion"],
            "sku": row["sku"], "role": row["role"], "platform": row["platform"], "attempt": row["attempt"],
            "sha256": row["sha256"], "action": action, "reviewer": reviewer, "at": at, **extra}


def _item(r) -> dict:
    d = dict(r)
    d["reasons"] = json.loads(d["reasons"]) if d.get("reasons") else []
    d["failed_metrics"] = json.loads(d["failed_metrics"]) if d.get("failed_metrics") else []
    d["superseded"] = bool(d.get("superseded"))
    d["awaiting"] = bool(d.get("awaiting"))
    d["decision_current"] = d["decision"] is not None and d["decided_sha256"] == d["sha256"]
    return d
