"""System metrics for job status: CPU and RAM from psutil, GPUs from NVML when `pynvml` and a GPU exist."""

from __future__ import annotations

import functools
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field

_GB = 1024**3


class GpuInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    name: str
    utilization_percent: float
    memory_used_gb: float
    memory_total_gb: float


class SystemMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_percent: float = Field(description="CPU use since the previous sample, all cores.")
    ram_used_gb: float
    ram_total_gb: float
    ram_percent: float
    gpu_info: list[GpuInfo] = Field(default_factory=list, description="Empty when no NVIDIA GPU is visible.")


@functools.lru_cache(maxsize=1)
def _nvml() -> Any | None:
    """The initialised pynvml module, or None; tried once per process (NVML init is slow when absent)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no package, no driver, no GPU: all mean "no GPU metrics"
        return None
    return pynvml


def _gpus() -> list[GpuInfo]:
    nvml = _nvml()
    if nvml is None:
        return []
    out = []
    try:
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            name = nvml.nvmlDeviceGetName(handle)
            out.append(
                GpuInfo(
                    index=i,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    utilization_percent=float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                    memory_used_gb=round(mem.used / _GB, 2),
                    memory_total_gb=round(mem.total / _GB, 2),
                )
            )
    except Exception:  # a GPU that vanished mid-read (reset, MIG change) must not break a status call
        return []
    return out


def system_metrics() -> SystemMetrics:
    mem = psutil.virtual_memory()
    return SystemMetrics(
        cpu_percent=psutil.cpu_percent(interval=None),
        ram_used_gb=round((mem.total - mem.available) / _GB, 2),
        ram_total_gb=round(mem.total / _GB, 2),
        ram_percent=mem.percent,
        gpu_info=_gpus(),
    )
