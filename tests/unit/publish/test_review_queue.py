import sqlite3

import pytest

from skucore.publish.review import ReviewQueue, UnknownReviewItem


def item(key="p/S1/a0.jpg", sha="a" * 64, **kw):
    d = {"image_key": key, "promotion": "double11", "sku": "S1", "role": "lifestyle", "platform": "taobao",
         "attempt": 0, "sha256": sha, "reasons": ["sharpness: failed"]}
    d.update(kw)
    return d


def test_enqueue_is_idempotent_and_persists(tmp_path):
    db = tmp_path / "q" / "review.sqlite"
    q = ReviewQueue(db)
    i1 = q.enqueue(item())
    i2 = q.enqueue(item())
    assert i1 == i2
    q.enqueue(item("p/S2/a0.jpg", sku="S2", promotion="other"))
    again = ReviewQueue(db)  # a new process / instance sees the same queue
    assert [p["image_key"] for p in again.pending()] == ["p/S1/a0.jpg", "p/S2/a0.jpg"]
    assert [p["image_key"] for p in again.pending("double11")] == ["p/S1/a0.jpg"]
    assert again.pending()[0]["reasons"] == ["sharpness: failed"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_decision_survives_rerun_of_same_image(tmp_path):
    q = ReviewQueue(tmp_path / "r.sqlite")
    q.enqueue(item())
    row = q.decide("p/S1/a0.jpg", "approve", "mei", "looks fine")
    assert row["decision"] == "approve" and row["decision_current"]
    ReviewQueue(tmp_path / "r.sqlite").enqueue(item())  # the rerun re-enqueues the same bytes
    q2 = ReviewQueue(tmp_path / "r.sqlite")
    assert q2.decision_for("p/S1/a0.jpg") == "approve"
    assert q2.pending() == []
    exported = q2.export_decisions()
    assert len(exported) == 1
    assert exported[0]["reviewer"] == "mei" and exported[0]["sha256"] == "a" * 64 and exported[0]["current"]


def test_changed_content_needs_a_new_decision(tmp_path):
    q = ReviewQueue(tmp_path / "r.sqlite")
    rid = q.enqueue(item())
    q.decide(rid, "reject", "mei")
    assert q.decision_for("p/S1/a0.jpg") == "reject"
    q.enqueue(item(sha="b" * 64))  # same key, different bytes
    assert q.decision_for("p/S1/a0.jpg") is None
    assert q.decision_for("p/S1/a0.jpg", sha256="a" * 64) == "reject"
    assert [p["image_key"] for p in q.pending()] == ["p/S1/a0.jpg"]
    assert q.export_decisions()[0]["current"] is False
    # a regenerated image is a new key: pending, undecided
    q.enqueue(item("p/S1/a1.jpg", sha="c" * 64, attempt=1))
    assert q.decision_for("p/S1/a1.jpg") is None
    assert len(q.pending()) == 2


def test_decide_by_id_and_clear_errors(tmp_path):
    q = ReviewQueue(tmp_path / "r.sqlite")
    rid = q.enqueue(item())
    assert q.decide(str(rid), "approve", "li")["decision"] == "approve"
    with pytest.raises(UnknownReviewItem, match="no review item with id or image_key 'nope'"):
        q.decide("nope", "approve", "li")
    with pytest.raises(UnknownReviewItem):
        q.decide(999, "approve", "li")
    with pytest.raises(ValueError, match="decision must be one of"):
        q.decide(rid, "maybe", "li")
    with pytest.raises(ValueError, match="reviewer"):
        q.decide(rid, "approve", " ")
    with pytest.raises(ValueError, match="missing"):
        q.enqueue({"image_key": "x", "promotion": "p"})
    assert q.decision_for("never-queued") is None
