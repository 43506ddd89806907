"""The review queue's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL, and how a database URL is made
from a path or URL setting. `skucore.publish.review.ReviewQueue` is the API; nothing else writes these tables.

review_items: one row per image that needs (or had) a person: B images ("review") and sampled A's ("spot_check").
  `scene` (promotion|sku|role|platform) groups the attempts of one scene: enqueueing a newer image of a scene marks
  the others `superseded`, so they leave the queue. `version` grows with every change of the row: a decision
  names the version it was made on, so two reviewers never decide the same image twice.
review_audit: every decision and every undo, never updated or deleted (an undo is a new entry).
"""
from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

__all__ = ["METADATA", "ITEMS", "AUDIT", "database_url", "display_url", "ensure_schema"]

METADATA = sa.MetaData()

ITEMS = sa.Table(
    "review_items", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("image_key", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False, server_default="review"),  # review | spot_check
    sa.Column("promotion", sa.Text, nullable=False),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("role", sa.Text),
    sa.Column("platform", sa.Text),
    sa.Column("attempt", sa.Integer),
    sa.Column("scene", sa.Text),
    sa.Column("template_id", sa.Text),
    sa.Column("grade", sa.Text),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),  # JSON list: why it was graded B
    sa.Column("failed_metrics", sa.Text, nullable=False, server_default="[]"),  # JSON list: for the reason filter
    sa.Column("enqueued_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false()),
    # Kept by every write: not superseded and no decision on the current content. The queue pages read it through
    # one index, so a page of 10,000 pending images costs what a page of 100 does.
    sa.Column("awaiting", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("decision", sa.Text),  # approve | reject | null
    sa.Column("decided_sha256", sa.Text),  # the content the decision was made on
    sa.Column("reviewer", sa.Text),
    sa.Column("reason", sa.Text),  # a rejection's reason code (skucore.prompting.review_reasons)
    sa.Column("note", sa.Text),
    sa.Column("decided_at", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("decision IS NULL OR decision IN ('approve', 'reject')", name="review_items_decision"),
)
sa.Index("review_items_promotion", ITEMS.c.promotion, ITEMS.c.sku)
sa.Index("review_items_awaiting", ITEMS.c.awaiting, ITEMS.c.kind, ITEMS.c.promotion, ITEMS.c.id)
sa.Index("review_items_awaiting_all", ITEMS.c.awaiting, ITEMS.c.kind, ITEMS.c.id)  # every promotion, oldest first
sa.Index("review_items_facets", ITEMS.c.awaiting, ITEMS.c.kind, ITEMS.c.promotion, ITEMS.c.platform, ITEMS.c.role,
         ITEMS.c.failed_metrics)  # the filters' choices, read from the index alone
sa.Index("review_items_scene", ITEMS.c.scene)

AUDIT = sa.Table(
    "review_audit", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.Integer, nullable=False),
    sa.Column("image_key", sa.Text, nullable=False),
    sa.Column("kind", sa.Text),
    sa.Column("promotion", sa.Text, nullable=False),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("role", sa.Text),
    sa.Column("platform", sa.Text),
    sa.Column("attempt", sa.Integer),
    sa.Column("sha256", sa.Text, nullable=False),  # the content decided on
    sa.Column("action", sa.Text, nullable=False),  # approve | reject | undo
    sa.Column("reason", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("reviewer", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("undoes", sa.Integer),  # for an undo: the audit id of the decision it took back
)
sa.Index("review_audit_item", AUDIT.c.item_id, AUDIT.c.id)
sa.Index("review_audit_promotion", AUDIT.c.promotion, AUDIT.c.id)

# Columns added since the first SQLite queue, with their DDL (files made before keep working: they gain these at
# open). "{false}" is the dialect's false literal.
_ADDED = {
    "kind": "TEXT NOT NULL DEFAULT 'review'", "scene": "TEXT", "template_id": "TEXT", "grade": "TEXT",
    "failed_metrics": "TEXT NOT NULL DEFAULT '[]'", "superseded": "BOOLEAN NOT NULL DEFAULT {false}",
    "reason": "TEXT", "version": "INTEGER NOT NULL DEFAULT 0", "awaiting": "BOOLEAN NOT NULL DEFAULT {false}",
}


def database_url(path_or_url: str | os.PathLike) -> str:
    """A SQLAlchemy URL from a setting: a URL as is ("postgresql://...", "sqlite:///..."), a path as a SQLite
    file. "postgresql://" and "postgres://" use psycopg2."""
    text = os.fspath(path_or_url)
    if "://" not in text:
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    scheme, rest = text.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg2://" + rest
    return text


def display_url(url: str) -> str:
    """The URL without its password: safe to print and show on pages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def ensure_schema(engine: sa.engine.Engine) -> None:
    """Create the tables, or add the columns an older queue file lacks. On PostgreSQL an advisory lock keeps two
    hosts that start at once from racing on CREATE TABLE."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7315100011)"))
        METADATA.create_all(conn, checkfirst=True)
        have = {c["name"] for c in sa.inspect(conn).get_columns("review_items")}
        false = "false" if engine.dialect.name == "postgresql" else "0"
        for name, ddl in _ADDED.items():
            if name not in have:
                conn.execute(sa.text(f"ALTER TABLE review_items ADD COLUMN {name} {ddl.format(false=false)}"))
        if "scene" not in have:
            conn.execute(ITEMS.update().values(scene=scene_expression()))
        if "awaiting" not in have:
            conn.execute(ITEMS.update().values(awaiting=awaiting_expression()))
        for index in ITEMS.indexes:
            index.create(conn, checkfirst=True)


def awaiting_expression():
    """SQL for "awaiting a decision" from the other columns (to fill `awaiting` in an older queue file)."""
    c = ITEMS.c
    return sa.and_(c.superseded.is_(False), sa.or_(c.decision.is_(None), c.decided_sha256.is_distinct_from(c.sha256)))


def scene_expression():
    """SQL for promotion|sku|role|platform (the same text `scene_of` builds in Python)."""
    c = ITEMS.c
    return (c.promotion + "|" + c.sku + "|" + sa.func.coalesce(c.role, "") + "|" + sa.func.coalesce(c.platform, ""))


def scene_of(promotion: str, sku: str, role: str | None, platform: str | None) -> str:
    return f"{promotion}|{sku}|{role or ''}|{platform or ''}"
