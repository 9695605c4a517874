"""The REST ad contract on the distributed stack: every test of test_ads.py (submit, status in both shapes,
events, stop, recent jobs, a re-run from step 2, health) against an API on PostgreSQL and S3 whose jobs run
in a `nanococoa worker` process it spawned (`serve --workers 1`), files served from the bucket."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from nanococoa_mcp.app import service_running
from nanococoa_mcp.service import Service
from nanococoa_mcp.settings import Settings
from tests.jobs.backends import database_name, fresh_migrated_database
from tests.realservers import PostgresServer, S3Server
from tests.server.rest.test_ads import *  # noqa: F403 (the same contract, collected again with this module's service)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest_service(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    database = fresh_migrated_database(postgres)
    bucket = s3.create_bucket(f"rest-ads-{os.getpid()}")
    with pytest.MonkeyPatch.context() as env:
        for key, value in s3.env().items():  # the standard AWS_* keys, as a deployment sets them
            env.setenv(key, value)
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("rest-distributed") / "data", database_url=database,
            blob_url=s3.blob_url(bucket), worker_processes=1, heartbeat_sec=0.5, stalled_after_sec=3.0,
        )
    try:
        async with service_running(settings) as service:
            yield service
    finally:
        s3.delete_bucket(bucket)
        postgres.drop_database(database_name(database))
