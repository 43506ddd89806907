"""The nightly catalog sync. Cron and timezone come from the environment so operations can move it."""
from __future__ import annotations

import os

import dagster as dg

from orchestration.jobs import catalog_sync_job

nightly_catalog_sync = dg.ScheduleDefinition(
    name="nightly_catalog_sync",
    job=catalog_sync_job,
    cron_schedule=os.environ.get("SKUSTUDIO_SYNC_CRON", "0 2 * * *"),
    execution_timezone=os.environ.get("SKUSTUDIO_SYNC_TIMEZONE", "Asia/Shanghai"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Ingests the catalog every night and syncs the SKU and promotion partitions.",
)
