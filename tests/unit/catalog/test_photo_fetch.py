"""PhotoFetcher against a real HTTP server on 127.0.0.1: every outcome a shop's CDN produces, with short timeouts
so the whole file runs in a few seconds."""
import io
import socket
import threading
import time

import pytest
from PIL import Image

from skucore.catalog.address_policy import AddressPolicy, address_kind
from skucore.catalog.blob_cache import BlobCache, LocalFolderCache, S3BlobCache, photo_key, url_record_key
from skucore.catalog.photo_fetch import FetchSettings, PhotoFetcher, PhotoFetchError, normalize_url
from tests.helpers.photo_server import Drip, Flaky, Photo, PhotoServer, Redirect, Slow, Status, Stream, Tracked

LOOPBACK = AddressPolicy(allowed_networks=("127.0.0.0/8",))
# Short enough that timeout tests take seconds, long enough for a good photo on a loaded 2-core CI machine.
FAST = dict(connect_timeout_s=2.0, read_timeout_s=1.0, total_timeout_s=4.0, retries=2, backoff_s=0.01,
            backoff_max_s=0.02, policy=LOOPBACK)


def jpeg(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def server():
    with PhotoServer() as running:
        yield running


@pytest.fixture
def cache(tmp_path):
    return LocalFolderCache(tmp_path / "photo-cache")


@pytest.fixture
def fetcher(cache):
    made = PhotoFetcher(cache, FetchSettings(**FAST))
    yield made
    made.close()


def test_good_photo_is_cached_under_its_hash(server, cache, fetcher):
    body = jpeg()
    result = fetcher.fetch(server.route("/p/ruby.jpg", Photo(body)))
    assert result.ok and result.image_type == "jpeg" and result.status == 200
    assert result.size == result.bytes_downloaded == len(body) and result.attempts == 1
    assert cache.get(photo_key(result.sha256)) == body
    assert fetcher.read(server.url("/p/ruby.jpg")) == body


def test_cache_holds_only_hash_named_files(server, cache, fetcher, tmp_path):
    fetcher.fetch(server.route("/../../etc/passwd%00.jpg", Photo(jpeg())))
    fetcher.fetch(server.route("/x.jpg?name=../../evil", Photo(jpeg((1, 2, 3)))))
    names = [p.relative_to(tmp_path / "photo-cache").as_posix() for p in (tmp_path / "photo-cache").rglob("*")
             if p.is_file()]
    assert names and all(n.startswith(("photos/", "urls/")) and "evil" not in n and "passwd" not in n
                         for n in names)


def test_same_photo_at_two_urls_is_stored_once(server, cache, fetcher, tmp_path):
    body = jpeg()
    first = fetcher.fetch(server.route("/a.jpg", Photo(body)))
    second = fetcher.fetch(server.route("/b.jpg", Photo(body)))
    assert first.sha256 == second.sha256
    assert len(list((tmp_path / "photo-cache" / "photos").rglob("*"))) == 2  # one fan-out folder, one photo


def test_404_is_a_reason_and_not_retried(server, fetcher):
    result = fetcher.fetch(server.url("/missing.jpg"))
    assert (result.reason, result.status, result.attempts) == ("photo_http_404", 404, 1)
    assert server.hits["/missing.jpg"] == 1
    with pytest.raises(PhotoFetchError) as caught:
        fetcher.read(server.url("/missing.jpg"))
    assert caught.value.reason == "photo_http_404"


def test_500_then_200_is_retried(server, fetcher):
    result = fetcher.fetch(server.route("/flaky.jpg", Flaky(1, Photo(jpeg()))))
    assert result.ok and result.attempts == 2 and server.hits["/flaky.jpg"] == 2


def test_persistent_503_gives_up_after_the_retries(server, fetcher):
    result = fetcher.fetch(server.route("/down.jpg", Status(503, headers={"Retry-After": "0"})))
    assert (result.reason, result.attempts) == ("photo_http_503", 3)


def test_backoff_grows_between_retries(server, cache):
    waits = []
    settings = FetchSettings(**{**FAST, "backoff_s": 1.0, "backoff_max_s": 3.0, "retries": 3})
    PhotoFetcher(cache, settings, sleep=waits.append).fetch(server.route("/down.jpg", Status(500)))
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 1.5 <= waits[2] <= 3.0  # x2 each time, jittered


def test_retry_after_is_a_floor_for_the_wait(server, cache):
    waits = []
    settings = FetchSettings(**{**FAST, "backoff_s": 0.01, "backoff_max_s": 3.0, "retries": 2})
    PhotoFetcher(cache, settings, sleep=waits.append).fetch(
        server.route("/busy.jpg", Status(429, headers={"Retry-After": "2"})))
    assert waits == [2.0, 2.0]


class _CutShort:
    """Declares 10,000 bytes, sends 100, hangs up."""

    def serve(self, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", "10000")
        handler.end_headers()
        handler.wfile.write(jpeg()[:100])
        handler.close_connection = True


def test_body_cut_short_is_a_connection_failure_and_retried(server, fetcher):
    result = fetcher.fetch(server.route("/cut.jpg", _CutShort()))
    assert result.reason == "photo_connection_failed" and result.attempts == 3
    assert result.bytes_downloaded > 0  # counted even though nothing was kept


def test_slow_server_times_out(server, fetcher):
    result = fetcher.fetch(server.route("/slow.jpg", Slow(2.5, Photo(jpeg()))))
    assert result.reason == "photo_timeout" and result.attempts == 3


def test_dripping_server_hits_the_download_deadline(server, cache):
    settings = FetchSettings(**{**FAST, "total_timeout_s": 0.4, "retries": 0})
    result = PhotoFetcher(cache, settings).fetch(server.route("/drip.jpg", Drip(jpeg(size=(200, 200)))))
    assert result.reason == "photo_timeout" and "longer than" in result.message


def test_redirect_chain_is_followed(server, fetcher):
    body = jpeg()
    server.route("/final.jpg", Photo(body))
    server.route("/hop2", Redirect("/final.jpg", 301))
    server.route("/hop1", Redirect(server.url("/hop2"), 307))
    result = fetcher.fetch(server.url("/hop1"))
    assert result.ok and result.final_url == server.url("/final.jpg")
    assert fetcher.read(server.url("/hop1")) == body


def test_redirect_loop_stops_at_the_limit(server, fetcher):
    server.route("/a", Redirect("/b"))
    server.route("/b", Redirect("/a"))
    result = fetcher.fetch(server.url("/a"))
    assert result.reason == "photo_too_many_redirects"
    assert server.hits["/a"] + server.hits["/b"] == FetchSettings().max_redirects + 1


def test_redirect_to_another_scheme_is_a_bad_url(server, fetcher):
    result = fetcher.fetch(server.route("/to-file", Redirect("file:///etc/passwd")))
    assert result.reason == "photo_bad_url"


def test_redirect_into_a_refused_address_is_checked_at_the_hop(server, fetcher):
    # The first hop is allowed (loopback is in the test policy); the second points at a cloud metadata address.
    result = fetcher.fetch(server.route("/meta", Redirect("http://169.254.169.254/latest/meta-data/")))
    assert result.reason == "photo_address_refused" and "link-local" in result.message


def test_declared_oversize_is_refused_before_reading(server, cache):
    fetcher = PhotoFetcher(cache, FetchSettings(**{**FAST, "max_bytes": 100_000}))
    result = fetcher.fetch(server.route("/huge.jpg", Stream(5_000_000)))
    assert result.reason == "photo_too_large" and result.bytes_downloaded < 100_000


def test_undeclared_oversize_stops_at_the_limit(server, cache):
    fetcher = PhotoFetcher(cache, FetchSettings(**{**FAST, "max_bytes": 200_000}))
    result = fetcher.fetch(server.route("/endless.jpg", Stream(50_000_000, declare_length=False)))
    assert result.reason == "photo_too_large"
    assert 200_000 < result.bytes_downloaded <= 200_000 + 64 * 1024


def test_html_served_as_jpeg_is_not_an_image(server, fetcher):
    page = b"<!DOCTYPE html><html><body>Sorry, this product image is gone</body></html>"
    result = fetcher.fetch(server.route("/gone.jpg", Photo(page, "image/jpeg")))
    assert result.reason == "photo_not_an_image" and "image/jpeg" in result.message


def test_jpeg_served_as_text_is_a_jpeg(server, fetcher):
    result = fetcher.fetch(server.route("/photo.png", Photo(jpeg(), "text/plain")))
    assert result.ok and result.image_type == "jpeg"  # neither the .png name nor text/plain decide


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_unchanged_photo_is_not_downloaded_again(server, cache, validator):
    body = jpeg()
    route = Photo(body, etag='"v1"') if validator == "etag" else Photo(body, last_modified=1_700_000_000)
    url = server.route("/cached.jpg", route)
    first = PhotoFetcher(cache, FetchSettings(**FAST)).fetch(url)
    # the server thread counts a body after writing it, so the client can have it a moment before the count does
    deadline = time.monotonic() + 10
    while server.bytes_sent < len(body) and time.monotonic() < deadline:
        time.sleep(0.01)
    sent_before = server.bytes_sent
    second = PhotoFetcher(cache, FetchSettings(**FAST)).fetch(url)  # the next nightly sync: a new fetcher
    assert first.bytes_downloaded == len(body)
    assert second.ok and second.revalidated and second.status == 304
    assert second.bytes_downloaded == 0 and server.bytes_sent == sent_before
    assert second.sha256 == first.sha256
    header = "If-None-Match" if validator == "etag" else "If-Modified-Since"
    assert header in server.requests[-1][1]


def test_changed_photo_is_downloaded_again(server, cache, fetcher):
    url = server.route("/changing.jpg", Photo(jpeg(), etag='"v1"'))
    first = fetcher.fetch(url)
    server.route("/changing.jpg", Photo(jpeg((10, 200, 10)), etag='"v2"'))
    second = fetcher.fetch(url)
    assert not second.revalidated and second.bytes_downloaded > 0 and second.sha256 != first.sha256


def test_evicted_photo_is_fetched_in_full(server, cache, fetcher, tmp_path):
    url = server.route("/evicted.jpg", Photo(jpeg(), etag='"v1"'))
    first = fetcher.fetch(url)
    cache.path(photo_key(first.sha256)).unlink()
    second = fetcher.fetch(url)
    assert second.ok and not second.revalidated and "If-None-Match" not in server.requests[-1][1]


def test_damaged_url_record_means_a_full_download(server, cache, fetcher):
    url = server.route("/record.jpg", Photo(jpeg(), etag='"v1"'))
    assert fetcher.fetch(url).ok
    cache.put(url_record_key(normalize_url(url)), b'{"sha256": "../../x", "etag": "\\"v1\\""}')
    again = fetcher.fetch(url)
    assert again.ok and not again.revalidated and again.bytes_downloaded > 0


def test_loopback_is_refused_by_default_without_a_request(server, cache):
    url = server.route("/internal.jpg", Photo(jpeg()))
    result = PhotoFetcher(cache, FetchSettings(**{**FAST, "policy": AddressPolicy()})).fetch(url)
    assert result.reason == "photo_address_refused" and "loopback" in result.message
    assert server.hits["/internal.jpg"] == 0


def test_allow_private_networks_opens_loopback(server, cache):
    policy = AddressPolicy(allow_private_networks=True)
    assert PhotoFetcher(cache, FetchSettings(**{**FAST, "policy": policy})).fetch(
        server.route("/lan.jpg", Photo(jpeg()))).ok


def test_every_resolved_address_is_checked(server, cache):
    # A name that resolves to a public address and a private one is refused before any connection.
    fetcher = PhotoFetcher(cache, FetchSettings(**{**FAST, "policy": AddressPolicy()}),
                           resolver=lambda host, port: ["93.184.215.14", "10.0.0.7"])
    result = fetcher.fetch("http://photos.example/p.jpg")
    assert result.reason == "photo_address_refused" and "10.0.0.7" in result.message


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("100.64.0.1", "shared address space"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "private"), ("::1", "loopback"), ("fe80::1", "link-local"),
    ("fc00::1", "private"), ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "loopback (inside IPv6"),
    ("::ffff:169.254.169.254", "link-local (inside IPv6"), ("64:ff9b::a00:1", "private (inside IPv6"),
    ("2002:c0a8:0101::1", "private (inside IPv6"), ("8.8.8.8", None), ("2606:4700:4700::1111", None),
])
def test_address_kinds(address, kind):
    import ipaddress

    found = address_kind(ipaddress.ip_address(address))
    assert (found is None) if kind is None else found.startswith(kind)


def test_allow_private_networks_still_refuses_link_local():
    policy = AddressPolicy(allow_private_networks=True)
    assert policy.refusal("lan", ["10.0.0.5"]) is None
    assert "link-local" in policy.refusal("metadata", ["169.254.169.254"])
    assert AddressPolicy(allowed_networks=("169.254.0.0/16",)).refusal("m", ["169.254.169.254"]) is None
    assert AddressPolicy(allowed_hosts=("photos.internal",)).refusal("Photos.Internal.", ["10.0.0.5"]) is None
    with pytest.raises(ValueError, match="allowed_networks"):
        AddressPolicy(allowed_networks=("not-a-network",))


@pytest.mark.parametrize("url", [
    "ftp://example.com/a.jpg", "file:///etc/passwd", "//example.com/a.jpg", "http://", "http://:80/a.jpg",
    "http://example.com:99999/a.jpg", "http://user:secret@example.com/a.jpg", "http://exa mple.com/\n.jpg", "",
    "javascript:alert(1)",
])
def test_bad_urls(url, fetcher):
    assert fetcher.fetch(url).reason == "photo_bad_url"


def test_urls_are_normalised():
    assert normalize_url(" HTTPS://Shop.EXAMPLE/wp-content/uploads/Blå tröja.jpg?v=1#top ") == \
        "https://shop.example/wp-content/uploads/Bl%C3%A5%20tr%C3%B6ja.jpg?v=1"
    assert normalize_url("http://bücher.example:80/a%20b.jpg") == "http://xn--bcher-kva.example/a%20b.jpg"
    assert normalize_url("http://[::1]:8080/x") == "http://[::1]:8080/x"


def test_non_ascii_file_names_reach_the_server(server, fetcher):
    server.route("/uploads/Blå tröja.jpg", Photo(jpeg()))
    assert fetcher.fetch(server.base_url + "/uploads/Blå tröja.jpg").ok


def test_nothing_listening_is_a_connection_failure(cache):
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    result = PhotoFetcher(cache, FetchSettings(**FAST)).fetch(f"http://127.0.0.1:{port}/a.jpg")
    assert result.reason == "photo_connection_failed" and result.attempts == 3


def test_per_host_limit_across_threads(server, cache):
    tracked = Tracked(Photo(jpeg()), delay_s=0.05)
    urls = [server.route(f"/t{i}.jpg", tracked) for i in range(8)]
    fetcher = PhotoFetcher(cache, FetchSettings(**{**FAST, "per_host_limit": 2}))
    results = fetcher.fetch_many(urls, workers=8)
    assert all(r.ok for r in results.values())
    assert tracked.most_in_flight == 2


def test_fetch_many_fetches_each_url_once(server, fetcher):
    url = server.route("/shared.jpg", Photo(jpeg()))
    results = fetcher.fetch_many([url] * 5 + [server.url("/nope.jpg")], workers=4)
    assert server.hits["/shared.jpg"] == 1 and len(results) == 2
    assert fetcher.stats["downloaded"] == 1 and fetcher.stats["failed"] == 1


def test_connections_are_reused(server, fetcher):
    urls = [server.route(f"/k{i}.jpg", Photo(jpeg())) for i in range(5)]
    for url in urls:
        assert fetcher.fetch(url).ok
    assert len({h.get("Host") for _, h in server.requests}) == 1
    pool = fetcher.pools.connection_from_host("127.0.0.1", server.port, "http")
    assert pool.num_connections == 1  # keep-alive: one connection for five photos


def test_ipv6_loopback(cache):
    try:
        running = PhotoServer(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with running:
        url = running.route("/v6.jpg", Photo(jpeg()))
        assert PhotoFetcher(cache, FetchSettings(**FAST)).fetch(url).reason == "photo_address_refused"
        policy = AddressPolicy(allowed_networks=("::1/128",))
        assert PhotoFetcher(cache, FetchSettings(**{**FAST, "policy": policy})).fetch(url).ok


def _self_signed_certificate(folder, name: str):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_connects_to_the_checked_address_but_verifies_the_name(cache, tmp_path):
    import ssl

    cert, key = _self_signed_certificate(tmp_path, "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with PhotoServer(tls=context) as running:
        running.route("/tls.jpg", Photo(jpeg()))
        fetcher = PhotoFetcher(cache, FetchSettings(**{**FAST, "ca_bundle": str(cert)}))
        # localhost resolves to 127.0.0.1 (checked, then connected to); SNI and the certificate check use the name.
        assert fetcher.fetch(f"https://localhost:{running.port}/tls.jpg").ok
        wrong_name = fetcher.fetch(f"https://127.0.0.1:{running.port}/tls.jpg")
        assert wrong_name.reason == "photo_connection_failed" and "TLS" in wrong_name.message
        assert wrong_name.attempts == 1  # a certificate that does not match will not match on a retry


def test_local_cache_is_a_blob_cache(cache):
    assert isinstance(cache, BlobCache)
    key = url_record_key("http://example.com/a.jpg")
    assert cache.get(key) is None and not cache.exists(key)
    cache.put(key, b"{}")
    assert cache.get(key) == b"{}" and cache.exists(key)
    with pytest.raises(ValueError, match="not a cache key"):
        cache.get("../../etc/passwd")


def test_s3_cache_round_trip():
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="shop")
        cache = S3BlobCache(client, "shop", "photo-cache/")
        key = photo_key("ab" * 32)
        assert cache.get(key) is None and not cache.exists(key)
        cache.put(key, b"bytes")
        assert cache.get(key) == b"bytes" and cache.exists(key)
        assert client.list_objects_v2(Bucket="shop")["Contents"][0]["Key"] == f"photo-cache/{key}"


def test_fetch_is_thread_safe_on_one_fetcher(server, fetcher):
    bodies = {f"/c{i}.jpg": jpeg((i * 20, 10, 10)) for i in range(6)}
    for path, body in bodies.items():
        server.route(path, Photo(body))
    errors = []

    def work(path):
        try:
            assert fetcher.read(server.url(path)) == bodies[path]
        except Exception as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in bodies for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
