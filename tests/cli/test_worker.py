"""`nanococoa worker`: refuses what it cannot run, clearly, before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanococoa_mcp.cli.commands import app
from nanococoa_mcp.settings import get_settings
from tests.realservers_fixtures import PgDatabase

runner = CliRunner()


def test_a_worker_on_the_embedded_database_is_refused_naming_the_url(data_dir: Path) -> None:
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "database_url" in result.output and "postgresql://" in result.output


def test_a_worker_for_an_unknown_kind_is_refused_naming_the_kinds(
    postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NANOCOCOA_DATABASE_URL", postgres_db.url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["worker", "--kinds", "ad,posters"])
    assert result.exit_code == 2
    assert "'posters'" in result.output and "ad, cutout, analysis" in result.output
