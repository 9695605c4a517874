"""The one database under the data directory: where it lives, WAL, and a clear error where it cannot live."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanococoa_mcp.db.connection import check_data_dir, connect_async, connect_sync
from nanococoa_mcp.storage import StorageError


def test_the_database_lives_in_the_data_dir_in_wal_mode_migrated(data_dir: Path) -> None:
    db = connect_sync(data_dir)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] >= 3
    db.close()
    assert (data_dir / "nanococoa.db").is_file()


async def test_the_async_connection_shares_the_file_and_its_settings(data_dir: Path) -> None:
    db = await connect_async(data_dir)
    try:
        async with db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"  # type: ignore[index]
        async with db.execute("PRAGMA busy_timeout") as cur:
            assert (await cur.fetchone())[0] == 10_000  # type: ignore[index]
    finally:
        await db.close()


async def test_an_unusable_data_dir_gives_a_storage_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should go")  # unwritable even for root
    with pytest.raises(StorageError) as info:
        check_data_dir(blocker / "data")
    assert info.value.field == "data_dir" and "cannot write" in info.value.message
    with pytest.raises(StorageError):
        await connect_async(blocker / "data")
