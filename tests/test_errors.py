"""The error tree: a reported error (a tool's, a job's) comes back as its own class, its code kept."""

from __future__ import annotations

from nanococoa_mcp.errors import InvalidInput, NanococoaError
from nanococoa_mcp.jobs.models import QueueFull
from nanococoa_mcp.storage import StorageError


def test_a_reported_error_comes_back_as_its_own_class_with_its_field_and_what_is_accepted() -> None:
    for exc in (
        InvalidInput("too long", field="copy", accepted="1-40 characters"),
        QueueFull("the queue is full", field="queue", accepted="retry later"),
        StorageError("disk full", field="data_dir"),
    ):
        back = NanococoaError.from_dict(exc.to_dict())
        assert type(back) is type(exc) and back.to_dict() == exc.to_dict()


def test_an_error_this_process_has_no_class_for_keeps_its_code() -> None:
    back = NanococoaError.from_dict({"error": "internal_error", "message": "the tool failed unexpectedly"})
    assert type(back) is NanococoaError and back.code == "internal_error"
    assert back.to_dict() == {"error": "internal_error", "message": "the tool failed unexpectedly"}
