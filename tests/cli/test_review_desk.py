"""The review desk over HTTP (uvicorn on loopback, a real queue and store): who may use it, CSRF on every form,
image bytes only for queued keys, catalog text escaped, one decision per image, "publish now"."""
import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from PIL import Image

from orchestration.cli import EXIT_OK, EXIT_USAGE, main
from orchestration.review_desk.config import (DeskConfig, RefusedToStart, check_bind, hash_password, is_loopback,
                                              load_reviewers, verify_password)
from resources.storage import StudioStore
from skucore import tables as T
from skucore.publish.review import ReviewQueue
from tests.helpers.review_desk import DeskClient, desk_in_thread


def _jpeg(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 640), colour).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def setup(tmp_path):
    """A store with three B images and one image that is stored but not queued; a queue holding the three."""
    store = StudioStore(root=str(tmp_path / "store"))
    queue = ReviewQueue(tmp_path / "review" / "queue.sqlite")
    keys = []
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200), (90, 90, 90)]):
        data = _jpeg(colour)
        sha = hashlib.sha256(data).hexdigest()
        key = T.image("double11", f"S{i}", "lifestyle", "shopify", 0, sha, "jpg")
        store.put_bytes(key, data)
        if i < 3:
            queue.enqueue({"image_key": key, "promotion": "double11", "sku": f"S{i}", "role": "lifestyle",
                           "platform": "shopify", "attempt": 0, "sha256": sha, "grade": "B",
                           "reasons": ["sharpness: failed value 12 vs >= 100"]})
        keys.append(key)
    return {"store": store, "queue": queue, "keys": keys, "tmp": tmp_path}


@pytest.fixture
def desk(setup):
    with desk_in_thread(DeskConfig(queue=setup["queue"], store=setup["store"])) as url:
        yield url


# ---- access ---------------------------------------------------------------------------------------------------
def test_non_loopback_bind_without_credentials_refuses_to_start(cli_env, capsys, monkeypatch):
    monkeypatch.delenv("SKUSTUDIO_REVIEWERS", raising=False)
    monkeypatch.delenv("SKUSTUDIO_REVIEWERS_FILE", raising=False)
    for host in ("0.0.0.0", "192.168.1.20", "::", "review.example.com"):
        assert main(["review", "serve", "--host", host]) == EXIT_USAGE
        assert f"refusing to listen on {host}" in capsys.readouterr().err
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "localhost"))
    check_bind("127.0.0.1", {})  # loopback: a name is enough
    check_bind("0.0.0.0", {"mei": hash_password("s3cret pass")})  # credentials configured: allowed


def test_reviewer_credentials_come_from_a_file_as_scrypt_hashes(tmp_path):
    entry = hash_password("correct horse")
    assert entry.startswith("scrypt$") and "correct horse" not in entry
    assert verify_password("correct horse", entry) and not verify_password("wrong", entry)
    path = tmp_path / "reviewers"
    path.write_text(f"# reviewers\nmei:{entry}\n", encoding="utf-8")
    assert load_reviewers(env={"SKUSTUDIO_REVIEWERS_FILE": str(path)}) == {"mei": entry}
    path.write_text("mei:plaintext\n", encoding="utf-8")
    with pytest.raises(RefusedToStart, match="bad reviewer entry 'mei'"):
        load_reviewers(env={"SKUSTUDIO_REVIEWERS_FILE": str(path)})


def test_hash_password_command_prints_an_entry(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("open sesame\n"))
    assert main(["review", "hash-password", "mei"]) == EXIT_OK
    name, entry = capsys.readouterr().out.strip().split(":", 1)
    assert name == "mei" and verify_password("open sesame", entry)


def test_pages_need_a_signed_in_reviewer(desk, setup):
    r = requests.get(f"{desk}/queue?promotion=double11", timeout=30)
    assert r.history and r.history[0].status_code == 303 and r.url.endswith("/login?next=/queue%3Fpromotion%3Ddouble11")
    assert requests.post(f"{desk}/bulk-approve", data={"pick": "1:0:x"}, timeout=30).status_code == 403
    assert requests.get(f"{desk}/image/{setup['keys'][0]}", timeout=30).status_code == 403
    assert requests.get(f"{desk}/healthz", timeout=30).text == "ok"


def test_with_credentials_a_password_is_needed(setup):
    config = DeskConfig(queue=setup["queue"], store=setup["store"], reviewers={"mei": hash_password("pa55 word")})
    with desk_in_thread(config) as url:
        wrong = DeskClient(url, "mei", password="guess")
        assert "wrong password" in wrong.last.text and wrong.last.url.endswith("/login?next=/queue")
        assert DeskClient(url, "eve", password="pa55 word").last.url.endswith("/login?next=/queue")
        ok = DeskClient(url, "mei", password="pa55 word")
        assert ok.last.url.endswith("/queue") and "Reviewing as <strong id=\"reviewer-name\">mei</strong>" in ok.last.text
        tampered = requests.Session()
        for cookie in ok.http.cookies:
            tampered.cookies.set(cookie.name, cookie.value[:-4] + "AAAA")
        assert tampered.get(f"{url}/queue", timeout=30).url.startswith(f"{url}/login")  # signatures are checked


def test_every_form_needs_the_csrf_token(desk, setup):
    client = DeskClient(desk, "mei")
    item = setup["queue"].pending()[0]
    posts = {
        f"/item/{item['id']}/decide": {"decision": "approve", "version": "0"},
        f"/item/{item['id']}/undo": {}, "/undo-last": {}, "/bulk-approve": {"pick": f"{item['id']}:0:{item['sha256']}"},
        "/spot-checks/draw": {"promotion": "double11"}, "/publish": {"promotion": "double11", "sku": "S0"},
        "/logout": {}, "/login": {"name": "eve"},
    }
    for path, form in posts.items():
        assert client.post(path, form, csrf_from=None).status_code == 403, path
        assert client.post(path, {**form, "csrf": "forged"}, csrf_from=None).status_code == 403, path
    assert setup["queue"].decision_for(item["image_key"]) is None
    assert setup["queue"].count_audit() == 0
    assert client.get("/queue").url.endswith("/queue")  # still signed in as mei (no logout happened)


def test_image_bytes_only_for_queued_keys(desk, setup):
    client = DeskClient(desk, "mei")
    queued, stored_only = setup["keys"][0], setup["keys"][3]
    full = client.get(f"/image/{queued}")
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    assert full.content == setup["store"].get_bytes(queued)
    thumb = client.get(f"/image/{queued}?size=thumb")
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (320, 320)
    sha = setup["queue"].find(queued)["sha256"]
    assert setup["store"].exists(T.review_thumbnail(sha, 320))  # made once, cached in the store
    for path in (f"/image/{stored_only}", "/image/tables/catalog/catalog.parquet", "/image/..%2F..%2Fetc%2Fpasswd",
                 "/image/%2Fetc%2Fpasswd", "/item/999/source", "/item/1/attempt/7", "/item/1/cutout"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "passwd" not in r.text and "root:" not in r.text


def test_catalog_and_queue_text_is_escaped(desk, setup):
    hostile = "<script>alert('x')</script>"
    setup["queue"].enqueue({"image_key": "images/double11/EVIL/x.jpg", "promotion": "double11", "sku": hostile,
                            "sha256": "e" * 64, "reasons": [f"text: failed {hostile}"], "role": "<b>studio</b>"})
    client = DeskClient(desk, "mei")
    for page in (client.get("/queue?promotion=double11"), client.get("/item/4")):
        assert page.status_code == 200
        assert hostile not in page.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
        assert "<b>studio</b>" not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]


def test_two_reviewers_never_decide_the_same_image_twice(desk, setup):
    mei, li = DeskClient(desk, "mei"), DeskClient(desk, "li")
    item = setup["queue"].pending()[0]
    forms = {}
    for who, client in (("mei", mei), ("li", li)):  # both open the page before either decides
        page = client.get(f"/item/{item['id']}")
        forms[who] = {"csrf": client_csrf(page.text), "decision": "approve", "version": str(item["version"]),
                      "sha256": item["sha256"]}
    first = mei.http.post(f"{desk}/item/{item['id']}/decide", data=forms["mei"], timeout=30)
    assert "approved" in first.text
    second = li.http.post(f"{desk}/item/{item['id']}/decide", data={**forms["li"], "decision": "reject",
                                                                    "reason": "lighting"}, timeout=30)
    assert f"/item/{item['id']}" in second.url and "already decided: approve by mei" in second.text
    assert setup["queue"].get(item["id"])["reviewer"] == "mei" and setup["queue"].count_audit() == 1


def test_reject_needs_a_reason_and_records_it(desk, setup):
    client = DeskClient(desk, "mei")
    item = setup["queue"].pending()[0]
    page = client.post(f"/item/{item['id']}/decide", {"decision": "reject", "version": "0"},
                       csrf_from=f"/item/{item['id']}")
    assert "pick a reason" in page.text and setup["queue"].decision_for(item["image_key"]) is None
    client.post(f"/item/{item['id']}/decide", {"decision": "reject", "version": "0", "reason": "template_wrong",
                                               "note": "needs the flat-lay template"}, csrf_from=f"/item/{item['id']}")
    got = setup["queue"].rejection_for(item["image_key"], item["sha256"])
    assert got["reason"] == "template_wrong" and got["note"] == "needs the flat-lay template" and got["reviewer"] == "mei"
    audit = client.get("/audit")
    assert "Template wrong for this product" in audit.text and "needs the flat-lay template" in audit.text


def client_csrf(html: str) -> str:
    from tests.helpers.review_desk import csrf_of

    return csrf_of(html)


class _FakeDagster(BaseHTTPRequestHandler):
    launched: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).launched.append(body["variables"]["params"])
        out = json.dumps({"data": {"launchPartitionBackfill": {"__typename": "LaunchBackfillSuccess",
                                                               "backfillId": "bf123"}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def test_publish_now_launches_the_partition_or_says_no_instance_is_configured(desk, setup):
    client = DeskClient(desk, "mei")
    page = client.post("/publish", {"promotion": "double11", "sku": "S0", "next": "/queue"})
    assert "No Dagster instance URL is configured" in page.text and "double11|S0" in page.text

    server = HTTPServer(("127.0.0.1", 0), _FakeDagster)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = DeskConfig(queue=setup["queue"], store=setup["store"], dagster_url=f"http://127.0.0.1:{server.server_port}")
        with desk_in_thread(config) as url:
            page = DeskClient(url, "mei").post("/publish", {"promotion": "double11", "sku": "S0", "next": "/queue"})
        assert "backfill bf123" in page.text and "/runs/b/bf123" in page.text
    finally:
        server.shutdown()
    [params] = _FakeDagster.launched
    by_asset = {p["assetKey"]["path"][0]: p["partitions"]["ranges"] for p in params["partitionsByAssets"]}
    assert by_asset == {"graded_sets": [{"start": "double11|S0", "end": "double11|S0"}],
                        "cdn_publish": [{"start": "double11|S0", "end": "double11|S0"}],
                        "cdn_manifest": [{"start": "double11", "end": "double11"}]}


def test_graded_sets_links_to_the_review_desk_when_its_url_is_configured(monkeypatch):
    from resources.quality import review_desk_url

    monkeypatch.delenv("SKUSTUDIO_REVIEW_URL", raising=False)
    assert review_desk_url("double11", "S1") is None
    monkeypatch.setenv("SKUSTUDIO_REVIEW_URL", "https://review.example.com/")
    assert review_desk_url("double11", "SKU 1/2") == "https://review.example.com/sku/double11/SKU%201%2F2"
