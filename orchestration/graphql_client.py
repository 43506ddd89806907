"""A small client for a running Dagster webserver's GraphQL API: what `skustudio backfill` needs.

    client = DagsterGraphQL("http://127.0.0.1:3000")
    client.check_repository()                       # the code location is loaded
    backfill_id = client.launch_promotion_backfill("double11", skus=None)
    client.backfill_status(backfill_id)             # {"status": ..., "assets": {...}}

Errors are `DagsterGraphQLError` (the server answered with errors) or its subclass `DagsterUnreachable` (no answer
at all). Their messages name the URL without any user:password part and never include request headers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from assets.stages import PER_SKU_STAGE_NAMES

LOCATION = "sku_studio"
REPOSITORY = "__repository__"
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
FAILED = {"COMPLETED_FAILED", "FAILED", "CANCELED"}


class DagsterGraphQLError(Exception):
    """The Dagster server answered, but with an error (GraphQL errors, an error result, a bad HTTP status)."""


class DagsterUnreachable(DagsterGraphQLError):
    """No answer from the Dagster server (connection refused, DNS, timeout)."""


class PromotionNotFound(DagsterGraphQLError):
    """The promotion (or a requested SKU) is not a partition on the server: a usage error for the CLI."""


def redact_url(url: str) -> str:
    """`url` without credentials or query string: safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def key_ranges(ordered: list[str], selected: list[str]) -> list[tuple[str, str]]:
    """Contiguous runs of `selected` in the order of `ordered`, as (start, end) ranges."""
    wanted = set(selected)
    ranges: list[tuple[str, str]] = []
    start = prev = None
    for key in ordered:
        if key in wanted:
            if start is None:
                start = key
            prev = key
        elif start is not None:
            ranges.append((start, prev))
            start = None
    if start is not None:
        ranges.append((start, prev))
    return ranges


_REPOSITORY_QUERY = """
query Repo($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository { name location { name } }
    ... on RepositoryNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

_LOCATIONS_QUERY = """
query Locations {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message }
  }
}
"""

_PARTITION_KEYS_QUERY = """
query Keys($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode { partitionKeys }
    ... on AssetNotFoundError { message }
  }
}
"""

_LAUNCH_MUTATION = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on PartitionKeysNotFoundError { message partitionKeys }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

_BACKFILL_QUERY = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id
      status
      numPartitions
      error { message }
      assetBackfillData {
        assetBackfillStatuses {
          __typename
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsInProgress
            numPartitionsMaterialized
            numPartitionsFailed
          }
          ... on UnpartitionedAssetStatus { assetKey { path } inProgress materialized failed }
        }
      }
    }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


@dataclass
class BackfillStatus:
    id: str
    status: str
    assets: dict[str, dict] = field(default_factory=dict)  # asset -> targeted/in_progress/materialized/failed
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def failed(self) -> bool:
        return self.status in FAILED or any(a["failed"] for a in self.assets.values())

    def totals(self) -> dict[str, int]:
        out = {"targeted": 0, "in_progress": 0, "materialized": 0, "failed": 0}
        for a in self.assets.values():
            for k in out:
                out[k] += a[k]
        return out

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "assets": self.assets, "error": self.error, "totals": self.totals()}


class DagsterGraphQL:
    def __init__(self, url: str = "http://127.0.0.1:3000", *, timeout_s: float = 30.0, session=None):
        self.url = url.rstrip("/")
        self.endpoint = f"{self.url}/graphql"
        self.timeout_s = timeout_s
        self._session = session

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    def ui_backfill_url(self, backfill_id: str) -> str:
        return f"{self.safe_url}/runs/b/{backfill_id}"

    # ---- transport ---------------------------------------------------------------------------------------
    def execute(self, query: str, variables: dict | None = None) -> dict:
        import requests

        session = self._session or requests
        try:
            resp = session.post(self.endpoint, json={"query": query, "variables": variables or {}}, timeout=self.timeout_s)
        except requests.exceptions.Timeout as exc:
            raise DagsterUnreachable(
                f"the Dagster server at {self.safe_url} did not answer within {self.timeout_s:.0f}s"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise DagsterUnreachable(
                f"cannot reach the Dagster server at {self.safe_url} ({type(exc).__name__}); is `dagster dev` "
                f"(or dagster-webserver) running there? Start it with: "
                f"DAGSTER_HOME=... dagster dev -w workspace.yaml"
            ) from exc
        if resp.status_code != 200:
            body = (resp.text or "").strip().replace("\n", " ")[:300]
            raise DagsterGraphQLError(
                f"the Dagster server at {self.safe_url} answered HTTP {resp.status_code} on /graphql"
                + (f": {body}" if body else "")
            )
        try:
            payload = resp.json()
        except ValueError as exc:
            raise DagsterGraphQLError(
                f"{self.safe_url}/graphql did not answer JSON: is this a Dagster webserver?"
            ) from exc
        if payload.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in payload["errors"][:5])
            raise DagsterGraphQLError(f"GraphQL error from {self.safe_url}: {messages}")
        return payload.get("data") or {}

    # ---- queries -----------------------------------------------------------------------------------------
    def check_repository(self, location: str = LOCATION, repository: str = REPOSITORY) -> None:
        data = self.execute(
            _REPOSITORY_QUERY, {"selector": {"repositoryLocationName": location, "repositoryName": repository}}
        )
        result = data.get("repositoryOrError") or {}
        if result.get("__typename") == "Repository":
            return
        loaded = self._location_summary()
        raise DagsterGraphQLError(
            f"the Dagster server at {self.safe_url} has no repository {repository!r} in code location "
            f"{location!r} ({result.get('message', result.get('__typename'))}); its locations: {loaded}"
        )

    def _location_summary(self) -> str:
        try:
            data = self.execute(_LOCATIONS_QUERY)
        except DagsterGraphQLError:
            return "unknown"
        ws = data.get("workspaceOrError") or {}
        entries = ws.get("locationEntries") or []
        parts = []
        for e in entries:
            loc = e.get("locationOrLoadError") or {}
            if loc.get("__typename") == "PythonError":
                parts.append(f"{e['name']} (failed to load: {loc.get('message', '').strip()[:200]})")
            else:
                parts.append(e["name"])
        return ", ".join(parts) or "none"

    def partition_keys(self, asset: str) -> list[str]:
        data = self.execute(_PARTITION_KEYS_QUERY, {"assetKey": {"path": [asset]}})
        node = data.get("assetNodeOrError") or {}
        if node.get("__typename") != "AssetNode":
            raise DagsterGraphQLError(
                f"asset {asset!r} is not defined on the Dagster server at {self.safe_url}: "
                f"{node.get('message', node.get('__typename'))}"
            )
        return list(node.get("partitionKeys") or [])

    def promotion_backfill_params(self, promotion: str, skus: list[str] | None = None, *, title: str | None = None) -> dict:
        """LaunchBackfillParams over prompt_table[promotion], product_cutouts[skus], the per-SKU stages
        [promotion|sku] and cdn_manifest[promotion]. Raises PromotionNotFound for an unknown promotion or SKU."""
        promotions = self.partition_keys("prompt_table")
        if promotion not in promotions:
            raise PromotionNotFound(
                f"promotion {promotion!r} is not a partition on {self.safe_url} (known: {', '.join(promotions) or 'none'}); "
                "add promotions/<id>.yaml and run the catalog_sync job first"
            )
        all_skus = self.partition_keys("product_cutouts")
        if not all_skus:
            raise PromotionNotFound(f"no SKU partitions on {self.safe_url}: run the catalog_sync job first")
        if skus:
            unknown = [s for s in skus if s not in set(all_skus)]
            if unknown:
                raise PromotionNotFound(
                    f"{len(unknown)} SKU(s) are not partitions on {self.safe_url}: {', '.join(unknown[:10])}"
                )
            selected = list(dict.fromkeys(skus))
        else:
            selected = list(all_skus)
        stage_keys = [k for k in self.partition_keys(PER_SKU_STAGE_NAMES[0]) if k.split("|", 1)[0] == promotion]
        wanted_stage = {f"{promotion}|{s}" for s in selected}

        def ranges(ordered, chosen):
            return {"ranges": [{"start": a, "end": b} for a, b in key_ranges(ordered, list(chosen))]}

        by_assets = [
            {"assetKey": {"path": ["prompt_table"]}, "partitions": ranges(promotions, [promotion])},
            {"assetKey": {"path": ["product_cutouts"]}, "partitions": ranges(all_skus, selected)},
        ]
        by_assets += [
            {"assetKey": {"path": [a]}, "partitions": ranges(stage_keys, wanted_stage)} for a in PER_SKU_STAGE_NAMES
        ]
        by_assets.append({"assetKey": {"path": ["cdn_manifest"]}, "partitions": ranges(promotions, [promotion])})
        params = {
            "partitionsByAssets": by_assets,
            "tags": [{"key": "skustudio/promotion", "value": promotion}],
            "title": title or f"{promotion}: {len(selected)} SKUs",
        }
        return params

    def launch_backfill(self, params: dict) -> str:
        data = self.execute(_LAUNCH_MUTATION, {"params": params})
        result = data.get("launchPartitionBackfill") or {}
        kind = result.get("__typename")
        if kind == "LaunchBackfillSuccess":
            return result["backfillId"]
        if kind == "PartitionKeysNotFoundError":
            raise PromotionNotFound(f"partitions not found on {self.safe_url}: {', '.join(result.get('partitionKeys') or [])[:300]}")
        detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors") or []) or kind
        raise DagsterGraphQLError(f"launchPartitionBackfill failed ({kind}): {detail}")

    def launch_promotion_backfill(self, promotion: str, skus: list[str] | None = None) -> str:
        return self.launch_backfill(self.promotion_backfill_params(promotion, skus))

    def backfill_status(self, backfill_id: str) -> BackfillStatus:
        data = self.execute(_BACKFILL_QUERY, {"id": backfill_id})
        result = data.get("partitionBackfillOrError") or {}
        if result.get("__typename") != "PartitionBackfill":
            raise DagsterGraphQLError(f"backfill {backfill_id!r}: {result.get('message', result.get('__typename'))}")
        assets: dict[str, dict] = {}
        for s in (result.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []:
            name = "/".join(s["assetKey"]["path"])
            if s["__typename"] == "AssetPartitionsStatusCounts":
                assets[name] = {
                    "targeted": s["numPartitionsTargeted"], "in_progress": s["numPartitionsInProgress"],
                    "materialized": s["numPartitionsMaterialized"], "failed": s["numPartitionsFailed"],
                }
            else:
                assets[name] = {
                    "targeted": 1, "in_progress": int(s["inProgress"]), "materialized": int(s["materialized"]),
                    "failed": int(s["failed"]),
                }
        error = (result.get("error") or {}).get("message")
        return BackfillStatus(id=result["id"], status=result["status"], assets=assets, error=error)

    def wait_for_backfill(self, backfill_id: str, *, poll_s: float = 2.0, timeout_s: float | None = None, on_update=None) -> BackfillStatus:
        """Poll until the backfill reaches a terminal status; `on_update(status)` after each poll."""
        started = time.monotonic()
        while True:
            status = self.backfill_status(backfill_id)
            if on_update is not None:
                on_update(status)
            if status.done:
                return status
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise TimeoutError(f"backfill {backfill_id} still {status.status} after {timeout_s:.0f}s")
            time.sleep(poll_s)
