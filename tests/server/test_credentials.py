"""Access tokens as issuers other than ours write them: `aud` as a list, no `kid` beside a single key, RS256 and
ES256, JWKS entries with and without `alg`/`use` (and ones for encryption beside them), `typ: at+jwt` (RFC 9068),
the scope in `scope` or `scp`, an issuer URL ending in a slash, an issuer's clock a little ahead, several keys,
rotation. Each is checked by the door's Credentials against a loopback issuer the test starts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from nanococoa_mcp.server.credentials import Credentials, Refusal
from nanococoa_mcp.settings import get_settings
from tests.server.oauth_issuer import LoopbackIssuer

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def issuer() -> Iterator[LoopbackIssuer]:
    running = LoopbackIssuer(audience=BASE)
    yield running
    running.close()


def credentials(issuer: LoopbackIssuer, **settings: Any) -> Credentials:
    """The door's check, configured for `issuer` (no key book: these are all tokens); JWKS fetched on demand."""
    configured = get_settings().model_copy(update={
        "auth_issuer": issuer.url, "auth_jwks_url": issuer.jwks_url, "public_url": BASE,
        "auth_jwks_refresh_sec": 0, **settings,
    })
    return Credentials(configured, keys=lambda: None)


async def tenant(check: Credentials, token: str) -> str:
    """The tenant a token acts as, or the refusal's error."""
    try:
        return (await check.verify(token)).caller.tenant
    except Refusal as refusal:
        return refusal.error


async def test_an_audience_list_is_accepted_when_it_names_this_server(issuer: LoopbackIssuer) -> None:
    issuer.add_key("k1")
    check = credentials(issuer)
    assert await tenant(check, issuer.mint(aud=["https://api.other.example", f"{BASE}/mcp"])) == "shop-a"
    assert await tenant(check, issuer.mint(aud=[f"{BASE}/sse/"])) == "shop-a"
    assert await tenant(check, issuer.mint(aud=["https://api.other.example", f"{BASE}/elsewhere"])) == "invalid_token"
    named = credentials(issuer, auth_audience="urn:nanococoa")  # NANOCOCOA_AUTH_AUDIENCE replaces the URLs
    assert await tenant(named, issuer.mint(aud=["urn:other", "urn:nanococoa"])) == "shop-a"
    assert await tenant(named, issuer.mint(aud=BASE)) == "invalid_token"


async def test_bound_to_loopback_with_no_public_url_each_loopback_name_is_this_server(
    issuer: LoopbackIssuer,
) -> None:
    issuer.add_key("k1")
    check = credentials(issuer, public_url=None, host="127.0.0.1", port=3000)
    for aud in (
        "http://127.0.0.1:3000/mcp", "http://localhost:3000/mcp", "http://[::1]:3000/sse", "http://localhost:3000"
    ):
        assert await tenant(check, issuer.mint(aud=aud)) == "shop-a", aud
    for aud in ("http://localhost:3001/mcp", "https://localhost:3000/mcp", "http://ads.example.com/mcp"):
        assert await tenant(check, issuer.mint(aud=aud)) == "invalid_token", aud


async def test_a_token_without_a_key_id_is_checked_with_the_only_signing_key(issuer: LoopbackIssuer) -> None:
    issuer.add_key("k1")
    for kid, alg in (("enc1", "RSA-OAEP"), ("enc2", None)):  # encryption keys beside it are no candidates
        issuer.add_key(kid, entry={"use": "enc", "alg": alg})
    check = credentials(issuer)
    assert await tenant(check, issuer.mint(header={"kid": None})) == "shop-a"
    forged = LoopbackIssuer.add_key(issuer, "forger", publish=False)
    assert await tenant(check, issuer.mint(key=forged, header={"kid": None})) == "invalid_token"
    issuer.add_key("k2")  # two signing keys: a token must say which
    assert await tenant(credentials(issuer), issuer.mint(header={"kid": None})) == "invalid_token"


async def test_rs256_and_es256_keys_from_one_key_set_both_verify(issuer: LoopbackIssuer) -> None:
    issuer.add_key("rsa")
    issuer.add_key("ec", kind="EC")
    check = credentials(issuer)
    assert await tenant(check, issuer.mint(kid="rsa", sub="shop-r")) == "shop-r"
    assert await tenant(check, issuer.mint(kid="ec", sub="shop-e")) == "shop-e"
    # Without kid each algorithm still finds its one key among the other kind's.
    assert await tenant(check, issuer.mint(kid="ec", header={"kid": None})) == "shop-a"
    assert await tenant(check, issuer.mint(kid="rsa", header={"kid": None})) == "shop-a"
    assert await tenant(credentials(issuer, auth_algorithms=["RS256"]), issuer.mint(kid="ec")) == "invalid_token"


@pytest.mark.parametrize(
    "entry",
    [{}, {"alg": None}, {"use": None}, {"alg": None, "use": None}, {"key_ops": ["verify"]}],
    ids=["alg_and_use", "no_alg", "no_use", "neither", "key_ops_verify"],
)
async def test_key_set_entries_with_or_without_alg_and_use_verify(
    issuer: LoopbackIssuer, entry: dict[str, Any]
) -> None:
    issuer.add_key("k1", entry=entry)
    assert await tenant(credentials(issuer), issuer.mint()) == "shop-a"


@pytest.mark.parametrize(
    "entry", [{"use": "enc"}, {"alg": "RS512"}, {"key_ops": ["encrypt"]}], ids=["use_enc", "other_alg", "key_ops"]
)
async def test_a_key_set_entry_not_meant_for_this_signature_is_not_used(
    issuer: LoopbackIssuer, entry: dict[str, Any]
) -> None:
    issuer.add_key("k1", entry=entry)
    assert await tenant(credentials(issuer), issuer.mint()) == "invalid_token"


@pytest.mark.parametrize(
    ("typ", "expected"),
    [("at+jwt", "shop-a"), ("application/at+jwt", "shop-a"), ("JWT", "shop-a"), ("jwt", "shop-a"), (None, "shop-a"),
     ("application/vendor-at+jwt", "shop-a"), ("dpop+jwt", "invalid_token"), ("logout+jwt", "invalid_token"),
     ("secevent+jwt", "invalid_token"), ("application/jwt; at+jwt", "invalid_token")],
)  # fmt: skip
async def test_an_access_token_type_is_accepted_and_another_jwts_is_not(
    issuer: LoopbackIssuer, typ: str | None, expected: str
) -> None:
    issuer.add_key("k1")
    assert await tenant(credentials(issuer), issuer.mint(header={"typ": typ})) == expected


@pytest.mark.parametrize(
    ("claims", "expected"),
    [({"scope": "openid nanococoa profile"}, "shop-a"), ({"scope": "nanococoa"}, "shop-a"),
     ({"scope": None, "scp": ["profile", "nanococoa"]}, "shop-a"),
     ({"scope": None, "scp": "nanococoa email"}, "shop-a"),
     ({"scope": "openid nanococoa:admin"}, "insufficient_scope"),
     ({"scope": None, "scp": ["other"]}, "insufficient_scope"), ({"scope": None}, "insufficient_scope")],
)  # fmt: skip
async def test_the_scope_is_read_from_scope_or_scp(
    issuer: LoopbackIssuer, claims: dict[str, Any], expected: str
) -> None:
    issuer.add_key("k1")
    assert await tenant(credentials(issuer), issuer.mint(**claims)) == expected


@pytest.mark.parametrize("path", ["/", "/realms/shops", "/realms/shops/"])
async def test_an_issuer_url_matches_with_or_without_its_trailing_slash(path: str) -> None:
    issuer = LoopbackIssuer(audience=BASE, path=path)
    try:
        issuer.add_key("k1")
        bare = issuer.url.rstrip("/")
        for configured in (bare, bare + "/"):
            check = credentials(issuer, auth_issuer=configured)
            for iss in (bare, bare + "/"):
                assert await tenant(check, issuer.mint(iss=iss)) == "shop-a", (configured, iss)
            assert await tenant(check, issuer.mint(iss=bare + "//")) == "invalid_token"
            assert await tenant(check, issuer.mint(iss=bare + "/x")) == "invalid_token"
    finally:
        issuer.close()


async def test_an_issuer_clock_a_little_ahead_is_tolerated(issuer: LoopbackIssuer) -> None:
    issuer.add_key("k1")
    check = credentials(issuer)
    now = int(time.time())
    assert await tenant(check, issuer.mint(iat=now + 10, nbf=now + 10)) == "shop-a"
    assert await tenant(check, issuer.mint(iat=now + 20, nbf=None)) == "shop-a"
    assert await tenant(check, issuer.mint(iat=now + 600, nbf=now + 600, exp=now + 900)) == "invalid_token"


async def test_each_of_several_keys_verifies_only_its_own_tokens(issuer: LoopbackIssuer) -> None:
    for kid in ("a", "b", "c"):
        issuer.add_key(kid, kind="EC" if kid == "c" else "RSA")
    check = credentials(issuer)
    for kid in ("a", "b", "c"):
        assert await tenant(check, issuer.mint(kid=kid, sub=f"shop-{kid}")) == f"shop-{kid}"
    assert await tenant(check, issuer.mint(kid="a", key=issuer.keys["b"])) == "invalid_token"
    assert issuer.fetches == 2  # one per algorithm, then cached


async def test_a_rotated_in_key_is_fetched_and_a_retired_one_stops_working(issuer: LoopbackIssuer) -> None:
    issuer.add_key("2025")
    check = credentials(issuer)
    old = issuer.mint(kid="2025")
    assert await tenant(check, old) == "shop-a"
    issuer.add_key("2026")  # rotation: the new key is published, then the old one retired
    issuer.retire("2025")
    assert await tenant(check, issuer.mint(kid="2026")) == "shop-a"  # an unknown kid: the set is fetched again
    assert await tenant(check, old) == "invalid_token"


async def test_a_bearer_that_is_no_jwt_object_is_refused_not_an_error(issuer: LoopbackIssuer) -> None:
    issuer.add_key("k1")
    check = credentials(issuer)
    for token in ("WzFd.e30.c2ln", "NQ.e30.c2ln", "bnVsbA.e30.c2ln", "!!.e30.c2ln", "a.b"):  # [1], 5, null, junk
        assert await tenant(check, token) == "invalid_token", token


@pytest.mark.parametrize(
    ("path", "served"),
    [("", "/.well-known/oauth-authorization-server"), ("", "/.well-known/openid-configuration"),
     ("/realms/shops", "/.well-known/oauth-authorization-server/realms/shops"),
     ("/realms/shops/", "/realms/shops/.well-known/openid-configuration"),
     ("/realms/shops", "/.well-known/openid-configuration/realms/shops")],
)  # fmt: skip
async def test_without_a_jwks_url_the_key_set_is_the_one_the_issuers_metadata_names(path: str, served: str) -> None:
    issuer = LoopbackIssuer(audience=BASE, path=path)
    try:
        issuer.add_key("k1")
        issuer.serve_metadata(served)
        check = credentials(issuer, auth_jwks_url=None)
        assert await tenant(check, issuer.mint()) == "shop-a"
        assert await tenant(check, issuer.mint(sub="shop-b")) == "shop-b"
        assert (issuer.metadata_fetches, issuer.fetches) == (1, 1)  # looked up once, then cached with the keys
    finally:
        issuer.close()


async def test_metadata_naming_another_issuer_or_no_keys_lends_no_keys(issuer: LoopbackIssuer) -> None:
    issuer.add_key("k1")
    issuer.serve_metadata("/.well-known/oauth-authorization-server", issuer="http://127.0.0.1:1/someone-else")
    check = credentials(issuer, auth_jwks_url=None)
    assert await tenant(check, issuer.mint()) == "invalid_token" and issuer.fetches == 0
    issuer.serve_metadata("/.well-known/oauth-authorization-server", jwks_uri=None)
    assert await tenant(credentials(issuer, auth_jwks_url=None), issuer.mint()) == "invalid_token"
    issuer.serve_metadata("/.well-known/oauth-authorization-server")  # fixed: the next fetch finds the keys
    assert await tenant(check, issuer.mint()) == "shop-a" and issuer.fetches == 1
