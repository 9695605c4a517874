"""The REST ad contract on the distributed stack: every test of test_ads.py (submit, status in both shapes,
events, stop, recent jobs, a re-run from step 2, health) against an API on PostgreSQL and S3 whose jobs run
in a `nanococoa worker` process it spawned (`serve --workers 1`), files served from the bucket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from nanococoa_mcp.app import service_running
from nanococoa_mcp.service import Service
from tests.realservers import PostgresServer, S3Server
from tests.server.rest.test_ads import *  # noqa: F403 (the same contract, collected again with this module's service)
from tests.stack import distributed_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest_service(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    data_dir = tmp_path_factory.mktemp("rest-distributed") / "data"
    with distributed_settings(postgres, s3, data_dir, worker_processes=1) as settings:
        async with service_running(settings) as service:
            yield service
