"""The GraphQL side of `skustudio backfill`, against a fake transport (tests/e2e covers a real server)."""
import json

import pytest

from orchestration.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from orchestration.graphql_client import DagsterGraphQL, DagsterGraphQLError, key_ranges, redact_url

SKUS = ["A-1", "B-2", "C-3", "D-4"]
KEYS = {
    "prompt_table": ["double11", "spring"],
    "product_cutouts": SKUS,
    "generated_images": [f"{p}|{s}" for p in ("double11", "spring") for s in SKUS],
}


class FakeResponse:
    def __init__(self, payload, status=200):
        self.payload, self.status_code = payload, status
        self.text = json.dumps(payload)

    def json(self):
        return self.payload


class FakeSession:
    """Answers the queries the client sends, records the launch parameters."""

    def __init__(self, backfill_statuses=("REQUESTED", "COMPLETED_SUCCESS"), failed=0):
        self.launched = None
        self.statuses = list(backfill_statuses)
        self.failed = failed

    def post(self, url, json=None, timeout=None):
        q, v = json["query"], json["variables"]
        if "repositoryOrError" in q:
            return FakeResponse({"data": {"repositoryOrError": {"__typename": "Repository", "name": "__repository__"}}})
        if "assetNodeOrError" in q:
            asset = v["assetKey"]["path"][0]
            return FakeResponse({"data": {"assetNodeOrError": {"__typename": "AssetNode", "partitionKeys": KEYS[asset]}}})
        if "launchPartitionBackfill" in q:
            self.launched = v["params"]
            return FakeResponse({"data": {"launchPartitionBackfill": {"__typename": "LaunchBackfillSuccess", "backfillId": "abcd1234"}}})
        if "partitionBackfillOrError" in q:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            done = status != "REQUESTED"
            counts = [
                {"__typename": "AssetPartitionsStatusCounts", "assetKey": {"path": ["cdn_publish"]},
                 "numPartitionsTargeted": 4, "numPartitionsInProgress": 0 if done else 4,
                 "numPartitionsMaterialized": (4 - self.failed) if done else 0,
                 "numPartitionsFailed": self.failed if done else 0},
            ]
            return FakeResponse({"data": {"partitionBackfillOrError": {
                "__typename": "PartitionBackfill", "id": v["id"], "status": status, "numPartitions": 4,
                "error": None, "assetBackfillData": {"assetBackfillStatuses": counts}}}})
        raise AssertionError(q)


def _ranges(params, asset):
    [sel] = [p for p in params["partitionsByAssets"] if p["assetKey"]["path"] == [asset]]
    return [(r["start"], r["end"]) for r in sel["partitions"]["ranges"]]


def test_key_ranges_are_contiguous_runs():
    assert key_ranges(SKUS, SKUS) == [("A-1", "D-4")]
    assert key_ranges(SKUS, ["A-1", "B-2", "D-4"]) == [("A-1", "B-2"), ("D-4", "D-4")]
    assert key_ranges(SKUS, []) == []


def test_redact_url_drops_credentials():
    assert redact_url("https://bob:pw@dagster.example:3000/x?token=t") == "https://dagster.example:3000/x"


def test_backfill_params_cover_every_stage():
    client = DagsterGraphQL("http://dagster.test", session=FakeSession())
    params = client.promotion_backfill_params("double11")
    assets = [p["assetKey"]["path"][0] for p in params["partitionsByAssets"]]
    assert assets == ["prompt_table", "product_cutouts", "generated_images", "quality_scores", "graded_sets",
                      "cdn_publish", "cdn_manifest"]
    assert _ranges(params, "prompt_table") == [("double11", "double11")]
    assert _ranges(params, "product_cutouts") == [("A-1", "D-4")]
    assert _ranges(params, "graded_sets") == [("double11|A-1", "double11|D-4")]
    assert _ranges(params, "cdn_manifest") == [("double11", "double11")]
    some = client.promotion_backfill_params("double11", ["B-2", "D-4"])
    assert _ranges(some, "product_cutouts") == [("B-2", "B-2"), ("D-4", "D-4")]
    assert _ranges(some, "cdn_publish") == [("double11|B-2", "double11|B-2"), ("double11|D-4", "double11|D-4")]


def test_backfill_command_launches_and_waits(monkeypatch, capsys):
    session = FakeSession()
    monkeypatch.setattr("orchestration.graphql_client.DagsterGraphQL.__init__", _init_with(session))
    assert main(["backfill", "--promotion", "double11", "--skus", "A-1,C-3", "--url", "http://dagster.test", "--wait", "--poll", "0"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "backfill abcd1234 launched" in out and "http://dagster.test/runs/b/abcd1234" in out
    assert "COMPLETED_SUCCESS" in out
    assert _ranges(session.launched, "product_cutouts") == [("A-1", "A-1"), ("C-3", "C-3")]


def test_backfill_wait_exits_1_when_partitions_fail(monkeypatch, capsys):
    session = FakeSession(("REQUESTED", "COMPLETED_FAILED"), failed=1)
    monkeypatch.setattr("orchestration.graphql_client.DagsterGraphQL.__init__", _init_with(session))
    assert main(["backfill", "--promotion", "double11", "--url", "http://dagster.test", "--wait", "--poll", "0"]) == EXIT_FAILED
    assert "From failure" in capsys.readouterr().err


def test_backfill_unknown_promotion_or_sku_exits_2(monkeypatch, capsys):
    monkeypatch.setattr("orchestration.graphql_client.DagsterGraphQL.__init__", _init_with(FakeSession()))
    assert main(["backfill", "--promotion", "nope", "--url", "http://dagster.test"]) == EXIT_USAGE
    assert "promotion 'nope' is not a partition" in capsys.readouterr().err
    assert main(["backfill", "--promotion", "double11", "--skus", "Z-9", "--url", "http://dagster.test"]) == EXIT_USAGE
    assert "Z-9" in capsys.readouterr().err


def test_graphql_errors_are_reported():
    class Errors(FakeSession):
        def post(self, url, json=None, timeout=None):
            return FakeResponse({"errors": [{"message": "Cannot query field 'x'"}]})

    with pytest.raises(DagsterGraphQLError, match="Cannot query field"):
        DagsterGraphQL("http://dagster.test", session=Errors()).check_repository()

    class Http500(FakeSession):
        def post(self, url, json=None, timeout=None):
            return FakeResponse({}, status=500)

    with pytest.raises(DagsterGraphQLError, match="HTTP 500"):
        DagsterGraphQL("http://dagster.test", session=Http500()).check_repository()


def _init_with(session):
    def __init__(self, url="http://127.0.0.1:3000", *, timeout_s=30.0, session_=None):
        self.url = url.rstrip("/")
        self.endpoint = f"{self.url}/graphql"
        self.timeout_s = timeout_s
        self._session = session

    return __init__
