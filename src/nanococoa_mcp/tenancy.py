"""Who a request acts for: the tenant that owns what it creates and the only one whose jobs, files, shop
records and sites it may see, and whether it may name files on the server's disk.

A door sets the caller around each call from the credential it verified (an OAuth access token, an API
key, the shared token); stdio and the loopback user with auth off act as the local tenant. The service,
the job store, shop records, files and sites read `current_caller()`; nothing below the doors parses a
credential."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

LOCAL_TENANT = "local"


@dataclass(frozen=True, slots=True)
class Caller:
    """`tenant`: the owner id (a token's tenant claim, an API key's tenant, `local`). `remote`: reached over
    the network with a credential, so it may not name server paths (it sends an image's content)."""

    tenant: str
    remote: bool = False


LOCAL = Caller(LOCAL_TENANT, remote=False)

_caller: ContextVar[Caller] = ContextVar("nanococoa_caller", default=LOCAL)


def current_caller() -> Caller:
    """The caller of the request being served; the local tenant when no door set one."""
    return _caller.get()


@contextlib.contextmanager
def acting_as(caller: Caller) -> Iterator[Caller]:
    """Serve the enclosed calls (and the tasks they start) as `caller`; the previous caller comes back after."""
    token = _caller.set(caller)
    try:
        yield caller
    finally:
        _caller.reset(token)
