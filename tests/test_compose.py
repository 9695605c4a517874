"""compose.yaml: valid YAML, and its `scale` profile is the distributed stack with health checks, the workers
reserving one GPU each."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import ROOT


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_the_scale_profile_runs_postgres_s3_two_replicas_and_two_gpu_workers_with_health_checks() -> None:
    services = _compose()["services"]
    scale = {name: s for name, s in services.items() if "scale" in s.get("profiles", [])}
    assert set(scale) == {"postgres", "s3", "s3-bucket", "api-1", "api-2", "worker-1", "worker-2"}
    for name in ("postgres", "s3", "api-1", "api-2", "worker-1", "worker-2"):
        assert scale[name]["healthcheck"]["test"], name
    for name in ("api-1", "api-2", "worker-1", "worker-2"):
        env = scale[name]["environment"]
        assert env["NANOCOCOA_DATABASE_URL"].startswith("postgresql://") and env["NANOCOCOA_BLOB_URL"].startswith("s3://")
        assert "scale" in scale[name]["build"]["args"]["EXTRAS"]
    for name in ("worker-1", "worker-2"):
        assert scale[name]["command"][:2] == ["nanococoa", "worker"]
        (device,) = scale[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"] and len(device["device_ids"]) == 1
    assert {s["ports"][0] for s in (scale["api-1"], scale["api-2"])} == {"3001:3000", "3002:3000"}
