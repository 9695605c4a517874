"""Stop points inside long stages: a stage calls `checkpoint()` at safe places (between GrabCut runs,
before matting, between typesetting attempts, and later between diffusion steps); the worker installs a
check that raises JobStopped once a stop is requested. Outside a worker it does nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from nanococoa_mcp.errors import NanococoaError

_check: ContextVar[Callable[[], None] | None] = ContextVar("nanococoa_stop_check", default=None)


def checkpoint() -> None:
    """Raise (whatever the installed check raises) if the running job should stop."""
    check = _check.get()
    if check is not None:
        check()


@contextlib.contextmanager
def stop_checks(check: Callable[[], None]) -> Iterator[None]:
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)


class JobStopped(NanococoaError):
    """Raised from the progress callback to abort a job whose stop was requested."""

    code = "job_stopped"
