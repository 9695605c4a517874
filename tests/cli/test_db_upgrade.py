"""`nanococoa db upgrade`: migrates the database the URL names, prints its version, masks the password."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanococoa_mcp.cli.commands import app
from nanococoa_mcp.db.postgres import PG_MIGRATIONS
from nanococoa_mcp.settings import get_settings
from tests.realservers_fixtures import PgDatabase

runner = CliRunner()


def _url_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("NANOCOCOA_DATABASE_URL", url)
    get_settings.cache_clear()


def test_upgrading_the_embedded_database_prints_its_version(data_dir: Path) -> None:
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"sqlite://{data_dir}/nanococoa.db: schema version 7 (m007_tenants)" in first.stdout
    applied = (
        "m001_initial, m002_stores_and_job_kinds, m003_any_job_kind, m004_queue_task, m005_job_attempts, "
        "m006_api_keys, m007_tenants"
    )
    assert f"applied: {applied}" in first.stdout
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "applied: nothing, already up to date" in again.stdout


def test_upgrading_postgres_twice_applies_once(postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    _url_env(monkeypatch, postgres_db.url)
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"{postgres_db.url}: schema version {len(PG_MIGRATIONS)} (m005_tenants)" in first.stdout
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "applied: nothing, already up to date" in again.stdout


def test_a_bad_url_or_an_unreachable_server_fails_clearly_without_the_password(
    postgres_db: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    _url_env(monkeypatch, "postgresql://app:hunter2@127.0.0.1:notaport/db")
    bad = runner.invoke(app, ["db", "upgrade"])
    assert bad.exit_code == 2
    assert "NANOCOCOA_DATABASE_URL" in bad.output and "accepted: " in bad.output and "hunter2" not in bad.output
    _url_env(monkeypatch, f"postgresql://app:hunter2@127.0.0.1:{postgres_db.server.port}/missing_db")
    unreachable = runner.invoke(app, ["db", "upgrade"])
    assert unreachable.exit_code == 2
    assert "storage_error" in unreachable.output and "app:***@" in unreachable.output
    assert "hunter2" not in unreachable.output
