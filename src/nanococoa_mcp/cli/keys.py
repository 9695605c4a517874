"""`nanococoa keys`: per-tenant API keys for the HTTP door (a key is printed once; only its hash is kept)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.table import Table

from nanococoa_mcp.errors import NanococoaError

if TYPE_CHECKING:
    from nanococoa_mcp.keys import KeyBook

keys_app = typer.Typer(help="API keys: each a bearer token acting as one tenant on every HTTP door.",
                       no_args_is_help=True)
T = TypeVar("T")


def _with_book(fn: Callable[[KeyBook], Awaitable[T]]) -> T:
    """Run `fn` on the key book of the configured database; a typed error exits with code 2."""
    from nanococoa_mcp.app import key_book
    from nanococoa_mcp.cli.commands import _fail
    from nanococoa_mcp.settings import get_settings

    async def run() -> T:
        async with key_book(get_settings()) as book:
            return await fn(book)

    try:
        return asyncio.run(run())
    except NanococoaError as exc:
        raise _fail(exc) from None


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.datetime.fromtimestamp(t).isoformat(sep=" ", timespec="seconds")


@keys_app.command("create")
def create(tenant: Annotated[str, typer.Option("--tenant", help="The tenant the key acts as.")]) -> None:
    """Make a key for TENANT and print it once: it is not stored, only its hash."""
    from nanococoa_mcp.cli.commands import out

    made, key = _with_book(lambda book: book.create(tenant))
    out.print(key, markup=False, highlight=False, soft_wrap=True)
    out.print(f"id {made.key_id}, tenant {made.tenant}: keep the key now, it is not shown again", markup=False,
              highlight=False, soft_wrap=True, style="dim")


@keys_app.command("list")
def list_keys() -> None:
    """Every key: id, tenant, created, last used, revoked (never the key)."""
    from nanococoa_mcp.cli.commands import out

    found = _with_book(lambda book: book.list())
    table = Table("id", "tenant", "created", "last used", "revoked")
    for k in found:
        table.add_row(k.key_id, k.tenant, _when(k.created_at), _when(k.last_used_at), _when(k.revoked_at))
    out.print(table if found else "no keys")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id, from `nanococoa keys list`.")]) -> None:
    """Refuse the key from now on, on every server sharing this database."""
    from nanococoa_mcp.cli.commands import out

    k = _with_book(lambda book: book.revoke(key_id))
    out.print(f"{k.key_id} (tenant {k.tenant}) revoked {_when(k.revoked_at)}", markup=False, highlight=False)
