"""The review queue on both of its databases: a SQLite file (the embedded default) and a real PostgreSQL 15 server
(production). Every test runs on both; one code path serves them."""
import sqlite3
import threading
import uuid

import pytest

from skucore.publish.review import AlreadyDecided, ItemChanged, NotDecided, ReviewQueue, UnknownReviewItem, queue_exists
from tests.helpers.postgres import postgres_server_fixture

pg = postgres_server_fixture(scope="module", name="pg")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """A fresh, empty queue location: a SQLite path, or a new database on the module's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "q" / "review.sqlite")
    return request.getfixturevalue("pg").create_database(f"queue_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def queue(db):
    q = ReviewQueue(db)
    yield q
    q.close()


def item(key="p/S1/a0.jpg", sha="a" * 64, **kw):
    d = {"image_key": key, "promotion": "double11", "sku": "S1", "role": "lifestyle", "platform": "taobao",
         "attempt": 0, "sha256": sha, "reasons": ["sharpness: failed value 12 vs >= 100", "score 0.8 < A threshold 0.9"]}
    d.update(kw)
    return d


def test_enqueue_is_idempotent_and_persists(db, queue):
    i1 = queue.enqueue(item())
    assert queue.enqueue(item()) == i1
    queue.enqueue(item("p/S2/a0.jpg", sku="S2", promotion="other"))
    again = ReviewQueue(db)  # another process / host sees the same queue
    assert [p["image_key"] for p in again.pending()] == ["p/S1/a0.jpg", "p/S2/a0.jpg"]
    assert [p["image_key"] for p in again.pending("double11")] == ["p/S1/a0.jpg"]
    first = again.pending()[0]
    assert first["reasons"][0].startswith("sharpness: failed") and first["failed_metrics"] == ["sharpness"]
    assert first["kind"] == "review" and first["version"] == 0
    again.close()


def test_sqlite_queue_uses_wal_and_old_files_gain_the_new_columns(tmp_path):
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as conn:  # the queue file as the first version made it
        conn.executescript("""CREATE TABLE review_items (id INTEGER PRIMARY KEY AUTOINCREMENT,
            image_key TEXT NOT NULL UNIQUE, promotion TEXT NOT NULL, sku TEXT NOT NULL, role TEXT, platform TEXT,
            attempt INTEGER, sha256 TEXT NOT NULL, reasons TEXT NOT NULL DEFAULT '[]', enqueued_at TEXT NOT NULL,
            updated_at TEXT NOT NULL, decision TEXT, decided_sha256 TEXT, reviewer TEXT, note TEXT, decided_at TEXT);
            INSERT INTO review_items (image_key, promotion, sku, role, platform, attempt, sha256, enqueued_at,
            updated_at, decision, decided_sha256, reviewer) VALUES ('k0', 'double11', 'S1', 'studio', 'jd', 0,
            'f', 't', 't', 'approve', 'f', 'lin');""")
    q = ReviewQueue(old)
    assert q.decision_for("k0") == "approve" and q.get("k0")["scene"] == "double11|S1|studio|jd"
    q.enqueue(item())
    assert [p["image_key"] for p in q.pending()] == ["p/S1/a0.jpg"]
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert queue_exists(old) and not queue_exists(tmp_path / "none.sqlite")


def test_decision_survives_rerun_of_same_image(db, queue):
    queue.enqueue(item())
    row = queue.decide("p/S1/a0.jpg", "approve", "mei", "looks fine")
    assert row["decision"] == "approve" and row["decision_current"]
    ReviewQueue(db).enqueue(item())  # the rerun re-enqueues the same bytes
    assert queue.decision_for("p/S1/a0.jpg") == "approve"
    assert queue.pending() == []
    [exported] = queue.export_decisions()
    assert exported["reviewer"] == "mei" and exported["sha256"] == "a" * 64 and exported["current"]


def test_changed_content_needs_a_new_decision_and_superseded_attempts_leave(queue):
    rid = queue.enqueue(item())
    queue.decide(rid, "reject", "mei", reason="lighting")
    assert queue.decision_for("p/S1/a0.jpg") == "reject"
    assert queue.rejection_for("p/S1/a0.jpg", "a" * 64)["reason"] == "lighting"
    queue.enqueue(item(sha="b" * 64))  # same key, different bytes
    assert queue.decision_for("p/S1/a0.jpg") is None
    assert queue.decision_for("p/S1/a0.jpg", sha256="a" * 64) == "reject"
    assert [p["image_key"] for p in queue.pending()] == ["p/S1/a0.jpg"]
    assert queue.export_decisions()[0]["current"] is False
    # A regenerated image of the same scene is a new key: it supersedes the earlier attempt in the queue.
    queue.enqueue(item("p/S1/a1.jpg", sha="c" * 64, attempt=1))
    queue.enqueue(item("p/S1/detail-a0.jpg", sha="d" * 64, role="detail"))  # another scene stays
    assert [p["image_key"] for p in queue.pending()] == ["p/S1/a1.jpg", "p/S1/detail-a0.jpg"]
    assert queue.get("p/S1/a0.jpg")["superseded"]
    # Grading settles on another image for the scene (say it is now an A): the queued one leaves too.
    assert queue.keep_current("double11", "S1", {("lifestyle", "taobao"): "p/S1/a2.jpg"}) == 1
    assert [p["image_key"] for p in queue.pending()] == ["p/S1/detail-a0.jpg"]


def test_filters_paging_counts_and_facets(queue):
    for i in range(7):
        queue.enqueue(item(f"k{i}", sku=f"S{i}", platform="jd" if i % 2 else "taobao",
                           role="studio" if i < 3 else "lifestyle",
                           reasons=["exposure: failed"] if i == 6 else None))
    queue.enqueue(item("o1", promotion="spring", sku="S9", kind="spot_check", grade="A", reasons=[]))
    assert queue.count_pending("double11") == 7
    assert [p["image_key"] for p in queue.pending("double11", limit=3, offset=3)] == ["k3", "k4", "k5"]
    assert [p["image_key"] for p in queue.pending(platform="jd")] == ["k1", "k3", "k5"]
    assert [p["image_key"] for p in queue.pending(role="studio", platform="taobao")] == ["k0", "k2"]
    assert [p["image_key"] for p in queue.pending(reason="exposure")] == ["k6"]
    assert queue.pending(reason="exp%") == []  # a filter value is matched literally
    assert [p["image_key"] for p in queue.pending(kind="spot_check")] == ["o1"]
    assert queue.pending_counts() == {"double11": {"review": 7, "spot_check": 0}, "spring": {"review": 0, "spot_check": 1}}
    facets = queue.facets("double11")
    assert facets == {"platforms": ["jd", "taobao"], "roles": ["lifestyle", "studio"], "reasons": ["exposure"]}
    assert queue.pending_ids(platform="jd") == [p["id"] for p in queue.pending(platform="jd")]


def test_a_decision_is_taken_once_and_undo_is_an_audit_entry(queue):
    rid = queue.enqueue(item())
    seen = queue.get(rid)
    queue.decide(rid, "reject", "mei", "colour cast", reason="colour_off", expected_version=seen["version"],
                 expected_sha256=seen["sha256"])
    with pytest.raises(AlreadyDecided, match="reject by mei"):
        queue.decide(rid, "approve", "li", expected_version=seen["version"])  # li's page showed the old version
    with pytest.raises(AlreadyDecided):
        queue.decide(rid, "approve", "li")  # no version: still decided on this content
    undone = queue.undo(rid, "mei")
    assert undone["decision"] is None and queue.pending()[0]["id"] == rid
    with pytest.raises(NotDecided):
        queue.undo(rid, "mei")
    queue.decide(rid, "approve", "li", expected_version=undone["version"])
    audit = queue.audit("double11")
    assert [(a["action"], a["reviewer"]) for a in audit] == [("approve", "li"), ("undo", "mei"), ("reject", "mei")]
    assert audit[1]["undoes"] == audit[2]["id"] and audit[2]["reason"] == "colour_off"
    assert all(a["sha256"] == "a" * 64 and a["at"] for a in audit)
    assert queue.count_audit() == 3 and queue.audit(item_id=rid, limit=1)[0]["action"] == "approve"


def test_a_decision_on_content_the_reviewer_did_not_see_is_refused(queue):
    rid = queue.enqueue(item())
    queue.enqueue(item(sha="e" * 64))  # a rerun replaced the bytes after the page was shown
    with pytest.raises(ItemChanged, match="rerun"):
        queue.decide(rid, "approve", "mei", expected_sha256="a" * 64)
    assert queue.decision_for("p/S1/a0.jpg") is None


def test_two_concurrent_reviewers_decide_an_image_once(db, queue):
    rid = queue.enqueue(item())
    version = queue.get(rid)["version"]
    queues = [ReviewQueue(db) for _ in range(6)]  # six reviewers' desks, each with its own connections
    start = threading.Barrier(len(queues))
    outcomes: list[str] = []

    def decide(q, name):
        start.wait()
        try:
            q.decide(rid, "approve" if name.endswith(("0", "2", "4")) else "reject", name, expected_version=version)
            outcomes.append(f"ok:{name}")
        except AlreadyDecided as exc:
            outcomes.append(f"already:{exc.item['reviewer']}")

    threads = [threading.Thread(target=decide, args=(q, f"reviewer{i}")) for i, q in enumerate(queues)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [o.split(":")[1] for o in outcomes if o.startswith("ok:")]
    assert len(outcomes) == 6 and len(winners) == 1, outcomes
    assert all(o == f"already:{winners[0]}" for o in outcomes if not o.startswith("ok:")), outcomes
    assert queue.get(rid)["reviewer"] == winners[0] and queue.count_audit() == 1
    for q in queues:
        q.close()


def test_clear_errors(queue):
    rid = queue.enqueue(item())
    assert queue.decide(str(rid), "approve", "li")["decision"] == "approve"
    with pytest.raises(UnknownReviewItem, match="no review item with id or image_key 'nope'"):
        queue.decide("nope", "approve", "li")
    with pytest.raises(UnknownReviewItem):
        queue.decide(999, "approve", "li")
    with pytest.raises(ValueError, match="decision must be one of"):
        queue.decide(rid, "maybe", "li")
    with pytest.raises(ValueError, match="reviewer"):
        queue.decide(rid, "approve", " ")
    with pytest.raises(ValueError, match="unknown reason 'ugly'"):
        queue.decide(rid, "reject", "li", reason="ugly")
    with pytest.raises(ValueError, match="missing"):
        queue.enqueue({"image_key": "x", "promotion": "p"})
    with pytest.raises(ValueError, match="kind"):
        queue.enqueue(item("y", kind="maybe"))
    assert queue.decision_for("never-queued") is None
    assert queue.decisions_for([("p/S1/a0.jpg", "a" * 64), ("p/S1/a0.jpg", "b" * 64)]) == {"p/S1/a0.jpg": None}
    assert queue.decisions_for([("p/S1/a0.jpg", "a" * 64), ("never", None)]) == {"p/S1/a0.jpg": "approve", "never": None}


def test_postgres_url_is_shown_without_password():
    from skucore.publish.review_schema import database_url, display_url

    url = database_url("postgresql://desk:s3cret@db.internal:5432/review")
    assert url.startswith("postgresql+psycopg2://") and "s3cret" not in display_url(url)
    assert database_url("/tmp/q.sqlite") == "sqlite:////tmp/q.sqlite"
