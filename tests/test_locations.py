"""NANOCOCOA_DATABASE_URL and NANOCOCOA_BLOB_URL: parsed into typed locations with the embedded defaults,
refused with the variable and what is accepted, and never showing a password or key in any text."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nanococoa_mcp.locations import (
    FileBlobLocation,
    PostgresDatabase,
    S3BlobLocation,
    S3Config,
    SqliteDatabase,
)
from nanococoa_mcp.settings import Settings

PASSWORD = "pw-7f3c1e"
SECRET_KEY = "sk-91ab77d"


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


def test_the_embedded_stack_is_the_default_under_the_data_dir(data_dir: Path) -> None:
    settings = Settings()
    assert (settings.database_url, settings.blob_url) == (None, None)
    assert settings.database == SqliteDatabase(data_dir / "nanococoa.db")
    assert settings.blobs == FileBlobLocation(data_dir)


def test_sqlite_and_file_urls_name_a_file_and_a_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NANOCOCOA_DATABASE_URL", f"sqlite://{tmp_path}/jobs.db")
    monkeypatch.setenv("NANOCOCOA_BLOB_URL", f"file://{tmp_path}/blobs")
    settings = Settings()
    assert settings.database == SqliteDatabase(tmp_path / "jobs.db")
    assert settings.blobs == FileBlobLocation(tmp_path / "blobs")
    assert str(settings.database) == f"sqlite://{tmp_path}/jobs.db"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgres_url_keeps_its_conninfo_for_the_client_only(monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    url = f"{scheme}://app:{PASSWORD}@db.internal:6432/nanococoa?sslmode=require"
    monkeypatch.setenv("NANOCOCOA_DATABASE_URL", url)
    database = Settings().database
    assert isinstance(database, PostgresDatabase)
    assert database.conninfo.get_secret_value() == url
    assert str(database) == f"{scheme}://app:***@db.internal:6432/nanococoa?sslmode=require"


def test_an_s3_url_takes_its_keys_and_missing_parts_from_the_aws_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NANOCOCOA_BLOB_URL", "s3://ad-results?presign=1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333/")
    blobs = Settings().blobs
    assert isinstance(blobs, S3Config)
    assert (blobs.bucket, blobs.endpoint, blobs.region, blobs.presign) == (
        "ad-results", "http://127.0.0.1:8333", "ap-northeast-2", True
    )
    assert blobs.credentials.secret_access_key is not None
    assert blobs.credentials.secret_access_key.get_secret_value() == SECRET_KEY
    assert str(blobs) == "s3://ad-results?endpoint=http://127.0.0.1:8333&region=ap-northeast-2&presign=1"


def test_the_s3_urls_own_endpoint_and_region_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NANOCOCOA_BLOB_URL", "s3://ads?endpoint=https://s3.example.com&region=eu-west-1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:9000")
    settings = Settings()
    assert settings.blob_url == S3BlobLocation("ads", "https://s3.example.com", "eu-west-1", False)
    blobs = settings.blobs
    assert isinstance(blobs, S3Config)
    assert (blobs.endpoint, blobs.region, blobs.credentials.access_key_id) == (
        "https://s3.example.com", "eu-west-1", None
    )
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("NANOCOCOA_BLOB_URL", "s3://ads")
    assert Settings().blobs == S3Config("ads", "http://elsewhere:9000", "us-east-1", False, blobs.credentials)


@pytest.mark.parametrize(
    ("variable", "url", "says"),
    [
        ("NANOCOCOA_DATABASE_URL", f"mysql://app:{PASSWORD}@h/db", "unknown scheme 'mysql'"),
        ("NANOCOCOA_DATABASE_URL", f"postgresql://app:{PASSWORD}@h:port/db", "not a URL"),
        ("NANOCOCOA_DATABASE_URL", "sqlite:///../jobs.db", "must be absolute"),
        ("NANOCOCOA_DATABASE_URL", "sqlite://host/jobs.db", "sqlite:/// and a file path"),
        ("NANOCOCOA_DATABASE_URL", "postgresql:///db", "names no server"),
        ("NANOCOCOA_DATABASE_URL", "/var/lib/jobs.db", "unknown scheme '(none)'"),
        ("NANOCOCOA_BLOB_URL", f"s3://key:{SECRET_KEY}@bucket", "S3 keys never go in the URL"),
        ("NANOCOCOA_BLOB_URL", "s3://Bad_Bucket", "is not an S3 bucket name"),
        ("NANOCOCOA_BLOB_URL", "s3://bucket/some/path", "has a path"),
        ("NANOCOCOA_BLOB_URL", "s3://bucket?endpont=http://h:1", "unknown S3 URL parameter 'endpont'"),
        ("NANOCOCOA_BLOB_URL", "s3://bucket?endpoint=h:9000", "is not a server address"),
        ("NANOCOCOA_BLOB_URL", "s3://bucket?presign=maybe", "presign='maybe'"),
        ("NANOCOCOA_BLOB_URL", "gs://bucket", "unknown scheme 'gs'"),
        ("NANOCOCOA_BLOB_URL", "file://relative/dir", "file:/// and a directory"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_variable_and_what_is_accepted(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str, says: str
) -> None:
    monkeypatch.setenv(variable, url)
    with pytest.raises(ValidationError) as info:
        Settings()
    (error,) = info.value.errors()
    assert "NANOCOCOA_" + "_".join(str(p) for p in error["loc"]).upper() == variable  # as the CLI names it
    assert says in error["msg"] and "(accepted: " in error["msg"]
    assert PASSWORD not in str(info.value) and SECRET_KEY not in str(info.value)


def test_no_password_or_key_appears_in_any_text_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NANOCOCOA_DATABASE_URL", f"postgresql://app:{PASSWORD}@h/db?password={PASSWORD}")
    monkeypatch.setenv("NANOCOCOA_BLOB_URL", "s3://ads?endpoint=http://127.0.0.1:8333")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET_KEY + "-token")
    settings = Settings()
    texts = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump()),
             str(settings.database), repr(settings.database), str(settings.blobs), repr(settings.blobs)]
    for text in texts:
        assert PASSWORD not in text and SECRET_KEY not in text and "AKIAEXAMPLE" not in text
    assert settings.model_dump(mode="json")["database_url"] == "postgresql://app:***@h/db?password=***"
