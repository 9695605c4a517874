"""The ad tools' answers that reach no job: the server's health, and invalid requests refused before anything
is written. One service for the module (a refusal writes nothing, so they share it, and it must stay without
jobs or images throughout); test_ads.py has the calls that make ads, each on a fresh module_service."""

from __future__ import annotations

import pytest

from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.service import Service
from nanococoa_mcp.tools import generate_ad_image, server_health
from tests.conftest import SAMPLES

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_server_health_reports_workers_and_jobs(module_service: Service) -> None:
    report = await server_health()
    assert report.status == "ok" and report.workers.configured == 1 and report.workers.alive == 1
    assert report.jobs["queued"] == 0 and report.system_metrics.ram_total_gb > 0
    assert report.data_dir == str(module_service.settings.data_dir)  # a local caller sees the folder
    assert report.gpu_available is False or report.system_metrics.gpu_info
    configured = {(b.stage, b.backend) for b in report.backends if b.configured}
    assert configured == {("cutout", "studio"), ("scene", "studio"), ("layout", "studio"), ("copy", "template")}
    assert all(b.usable for b in report.backends if b.configured)
    assert any(b.backend == "flux" and not b.usable and b.reason for b in report.backends)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"copy": "   "}, "copy"),
        ({"copy": "가" * 41}, "copy"),
        ({}, "copy"),
        ({"copy": "세일", "style": "steampunk"}, "style"),
        ({"copy": "세일", "text_style": "wordart"}, "text_style"),
        ({"copy": "세일", "size": "16:10"}, "size"),
        ({"copy": "세일", "sub_copy": "나" * 41}, "sub_copy"),
    ],
)
async def test_invalid_requests_are_refused_before_anything_is_written(
    module_service: Service, kwargs: dict[str, object], field: str
) -> None:
    data_dir = module_service.settings.data_dir
    with pytest.raises(InvalidInput) as info:
        await generate_ad_image(product_image_path=str(SAMPLES / "apple.jpg"), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and info.value.accepted
    assert await module_service.jobs() == []
    assert not any(data_dir.rglob("*.png"))
