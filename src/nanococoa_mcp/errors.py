"""The error tree every door maps from: one place per door turns these into its own error shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


def field_path(loc: Sequence[str | int]) -> str:
    """A validation error's location as the field it names: `product_points[0].label`, not
    `product_points.0.label`; the same spelling on every door."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


class NanococoaError(Exception):
    """Base of every error nanococoa raises on purpose.

    `field` names the request field at fault when there is one, spelt as field_path spells it (`photos[1]`,
    `product_points[0].label`); `accepted` says what would have been accepted, so a caller (human or LLM) can
    correct the request.
    """

    code = "nanococoa_error"
    _by_code: ClassVar[dict[str, type[NanococoaError]]] = {}

    def __init__(self, message: str, *, field: str | None = None, accepted: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.accepted = accepted

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        NanococoaError._by_code.setdefault(cls.code, cls)

    @staticmethod
    def from_dict(payload: Mapping[str, Any]) -> NanococoaError:
        """The error another side reported in `to_dict`'s shape (a tool's error), as its own class when
        this process knows its code, else a NanococoaError that keeps the code."""
        code = str(payload.get("error") or NanococoaError.code)
        cls = NanococoaError._by_code.get(code, NanococoaError)
        exc = cls(
            str(payload.get("message") or "unknown error"), field=payload.get("field"), accepted=payload.get("accepted")
        )
        exc.code = code
        exc._restore(payload)
        return exc

    def _restore(self, payload: Mapping[str, Any]) -> None:
        """A subclass's own fields, read back from its `to_dict`."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.accepted:
            out["accepted"] = self.accepted
        return out

    def __str__(self) -> str:
        parts = [self.message]
        if self.field:
            parts.insert(0, f"{self.field}:")
        if self.accepted:
            parts.append(f"(accepted: {self.accepted})")
        return " ".join(parts)


class InvalidInput(NanococoaError):
    """The request itself is wrong; retrying it unchanged will fail again."""

    code = "invalid_input"


class NotFound(NanococoaError):
    code = "not_found"


class Conflict(NanococoaError):
    code = "conflict"


class BackendUnavailable(NanococoaError):
    """A backend (browser, model, extra) cannot run on this host; the message says how to fix it."""

    code = "backend_unavailable"


class JobFailed(NanococoaError):
    code = "job_failed"


class QuotaExceeded(NanococoaError):
    """A tenant is over one of its quotas (queued jobs, jobs per hour, stored megabytes): nothing was created.
    `retry_after_s` is when asking again may pass (REST: 429 with Retry-After)."""

    code = "quota_exceeded"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        accepted: str | None = None,
        quota: str = "",
        limit: float = 0,
        used: float = 0,
        retry_after_s: int = 60,
    ) -> None:
        super().__init__(message, field=field, accepted=accepted)
        self.quota = quota
        self.limit = limit
        self.used = used
        self.retry_after_s = retry_after_s

    def _restore(self, payload: Mapping[str, Any]) -> None:
        self.quota = str(payload.get("quota") or "")
        self.limit = payload.get("limit") or 0
        self.used = payload.get("used") or 0
        self.retry_after_s = int(payload.get("retry_after_s") or 60)

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "quota": self.quota,
            "limit": self.limit,
            "used": self.used,
            "retry_after_s": self.retry_after_s,
        }
