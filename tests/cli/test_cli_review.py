"""`skustudio review` on a real ReviewQueue file: list, approve, reject, and unknown ids."""
import json

import pytest

from orchestration.cli import EXIT_OK, EXIT_USAGE, main
from skucore.publish.review import ReviewQueue


@pytest.fixture
def queue(tmp_path):
    q = ReviewQueue(tmp_path / "review" / "queue.sqlite")
    for i, sku in enumerate(["SKU-A", "SKU-B", "SKU-C"]):
        q.enqueue({
            "image_key": f"images/double11/{sku}/lifestyle-shopify-a0-{i:016x}.jpg", "promotion": "double11",
            "sku": sku, "role": "lifestyle", "platform": "shopify", "attempt": 0, "sha256": f"{i:064x}",
            "reasons": ["text_legibility below 0.9"],
        })
    q.enqueue({"image_key": "images/other/SKU-Z/x.jpg", "promotion": "other", "sku": "SKU-Z", "sha256": "f" * 64})
    return q


def _list(db, capsys, *extra):
    assert main(["review", "list", "--db", str(db), "--json", *extra]) == EXIT_OK
    return json.loads(capsys.readouterr().out)["pending"]


def test_list_shows_pending_items(queue, capsys):
    assert [i["sku"] for i in _list(queue.path, capsys, "--promotion", "double11")] == ["SKU-A", "SKU-B", "SKU-C"]
    assert len(_list(queue.path, capsys)) == 4
    assert main(["review", "list", "--db", str(queue.path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "4 image(s) await review" in out and "text_legibility below 0.9" in out


def test_approve_by_id_and_reject_by_image_key(queue, capsys):
    items = _list(queue.path, capsys, "--promotion", "double11")
    a, b = items[0], items[1]
    assert main(["review", "approve", str(a["id"]), "--db", str(queue.path), "--reviewer", "lin", "--note", "ok"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"approved #{a['id']}" in out and "as lin" in out
    assert f"rerun graded_sets and cdn_publish for partition double11|{a['sku']}" in out
    assert main(["review", "reject", b["image_key"], "--db", str(queue.path), "--reviewer", "lin"]) == EXIT_OK
    assert "rejected" in capsys.readouterr().out

    assert queue.decision_for(a["image_key"]) == "approve"
    assert queue.decision_for(b["image_key"]) == "reject"
    decisions = {d["image_key"]: d for d in queue.export_decisions("double11")}
    assert decisions[a["image_key"]]["reviewer"] == "lin" and decisions[a["image_key"]]["note"] == "ok"
    assert [i["sku"] for i in _list(queue.path, capsys, "--promotion", "double11")] == ["SKU-C"]


def test_unknown_item_exits_2(queue, capsys):
    assert main(["review", "approve", "9999", "--db", str(queue.path), "--reviewer", "lin"]) == EXIT_USAGE
    assert "no review item with id or image_key '9999'" in capsys.readouterr().err
    assert main(["review", "reject", "images/nope.jpg", "--db", str(queue.path), "--reviewer", "lin"]) == EXIT_USAGE
    assert "no review item" in capsys.readouterr().err
    assert len(_list(queue.path, capsys)) == 4  # nothing decided


def test_missing_queue_lists_nothing_and_decisions_exit_2(tmp_path, capsys):
    db = tmp_path / "none" / "queue.sqlite"
    assert main(["review", "list", "--db", str(db)]) == EXIT_OK
    assert "nothing awaits review" in capsys.readouterr().out
    assert main(["review", "approve", "1", "--db", str(db), "--reviewer", "lin"]) == EXIT_USAGE
    assert "no review queue" in capsys.readouterr().err
    assert not db.exists()  # listing never creates a queue


def test_review_db_follows_home(cli_env, queue, capsys):
    # without --db, the configured review_db: <SKUSTUDIO_HOME>/review/queue.sqlite
    home = queue.path.parent.parent
    assert main(["review", "list", "--home", str(home), "--json"]) == EXIT_OK
    assert len(json.loads(capsys.readouterr().out)["pending"]) == 4


def test_a_decided_image_is_not_decided_again_until_undone(queue, capsys):
    item = _list(queue.path, capsys, "--promotion", "double11")[0]
    args = ["--db", str(queue.path), "--reviewer", "lin"]
    assert main(["review", "reject", str(item["id"]), "--reason", "lighting", "--note", "too dark", *args]) == EXIT_OK
    capsys.readouterr()
    assert main(["review", "approve", str(item["id"]), *args[:2], "--reviewer", "mei"]) == EXIT_USAGE
    assert "already decided: reject by lin" in capsys.readouterr().err
    assert main(["review", "undo", str(item["id"]), *args[:2], "--reviewer", "mei"]) == EXIT_OK
    assert "undid the decision" in capsys.readouterr().out
    assert main(["review", "undo", str(item["id"]), *args]) == EXIT_USAGE
    assert "no decision to undo" in capsys.readouterr().err
    assert main(["review", "approve", str(item["id"]), *args[:2], "--reviewer", "mei"]) == EXIT_OK
    assert [(a["action"], a["reviewer"], a["reason"]) for a in queue.audit()] == [
        ("approve", "mei", None), ("undo", "mei", "lighting"), ("reject", "lin", "lighting")]


def test_reject_reason_must_be_a_known_one(queue, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["review", "reject", "1", "--db", str(queue.path), "--reason", "ugly"])
    assert exc.value.code == EXIT_USAGE


def test_templates_report_per_template_and_platform(cli_env, queue, capsys):
    import pyarrow as pa

    from resources.storage import StudioStore
    from skucore import tables as T

    store = StudioStore(root=str(cli_env / "store"))
    graded, generated = [], []
    for i, (template, grade, failed) in enumerate([("fashion/studio", "A", []), ("fashion/studio", "B", ["sharpness"]),
                                                   ("fashion/lifestyle", "C", ["text", "fidelity"]),
                                                   ("fashion/lifestyle", "B", ["text"])]):
        key = f"images/double11/SKU-A/x{i}.jpg"
        graded.append({"promotion": "double11", "sku": "SKU-A", "role": template.split("/")[1], "platform": "shopify",
                       "slot": "main", "attempt": int(i == 3), "image_key": key, "grade": grade, "raw_grade": grade,
                       "score": 0.9, "action": "review", "reasons": [], "failed_metrics": failed, "superseded": i == 2})
        generated.append({"promotion": "double11", "sku": "SKU-A", "image_key": key, "template_id": template})
    store.write_table(T.attempts("double11", "SKU-A"), pa.Table.from_pylist(graded, schema=T.GRADED_SCHEMA))
    store.write_table(T.graded("double11", "SKU-A"), pa.Table.from_pylist(graded[:2] + graded[3:], schema=T.GRADED_SCHEMA))
    store.write_table(T.generated("double11", "SKU-A"), pa.Table.from_pylist(generated, schema=T.GENERATED_SCHEMA))
    queue.enqueue({"image_key": graded[3]["image_key"], "promotion": "double11", "sku": "SKU-A", "sha256": "9" * 64,
                   "role": "lifestyle", "platform": "shopify"})
    queue.decide(graded[3]["image_key"], "reject", "lin", reason="text_wrong")

    assert main(["templates", "report", "--home", str(cli_env), "--db", str(queue.path), "--json"]) == EXIT_OK
    rows = {r["template_id"]: r for r in json.loads(capsys.readouterr().out)["double11"]}
    life, studio = rows["fashion/lifestyle"], rows["fashion/studio"]
    assert (life["attempts"], life["a_share"], life["b_share"], life["c_share"]) == (2, 0.0, 0.5, 0.5)
    assert life["top_failed"][0] == ["text", 2] and life["regenerations"] == 1
    assert life["rejected"] == 1 and life["reject_reasons"] == [["Text wrong, cut off or unreadable", 1]]
    assert (studio["a_share"], studio["top_failed"]) == (0.5, [["sharpness", 1]])
    assert main(["templates", "report", "--home", str(cli_env), "--db", str(queue.path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.index("fashion/lifestyle") < out.index("fashion/studio")  # worst first
    assert main(["templates", "report", "--home", str(cli_env), "--promotion", "nope"]) == EXIT_USAGE
