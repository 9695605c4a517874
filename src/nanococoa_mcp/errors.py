"""The error tree every door maps from: one place per door turns these into its own error shape."""

from __future__ import annotations


class NanococoaError(Exception):
    """Base of every error nanococoa raises on purpose.

    `field` names the request field at fault (dotted path) when there is one; `accepted` says
    what would have been accepted, so a caller (human or LLM) can correct the request.
    """

    code = "nanococoa_error"

    def __init__(self, message: str, *, field: str | None = None, accepted: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.accepted = accepted

    def to_dict(self) -> dict[str, str]:
        out = {"error": self.code, "message": self.message}
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
