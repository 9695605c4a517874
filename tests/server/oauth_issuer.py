"""A loopback OAuth issuer for the auth tests: signing keys made here with `cryptography`, their public halves
served as a JWKS document on a loopback port (counting fetches), and access tokens minted with any claims, key
or header, including the bad ones a resource server must refuse. Shared by the auth tests and the tenant door
tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LoopbackIssuer:
    """`url` is the issuer (`iss`: the loopback origin, then `path`), `jwks_url` its key set. `add_key(kid)` makes
    a key, published unless told otherwise, its JWKS entry changed by `entry` (a None drops a member);
    `publish(kid)` rotates one in, `retire(kid)` out. `mint(...)` signs a token for `audience` with scope
    `nanococoa`."""

    def __init__(self, audience: str, scope: str = "nanococoa", path: str = "") -> None:
        self.audience, self.scope = audience, scope
        self.keys: dict[str, PrivateKey] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.published: list[str] = []
        self.metadata: dict[str, dict[str, Any]] = {}  # served path -> authorization server metadata
        self.fetches = self.metadata_fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path in issuer.metadata:
                    issuer.metadata_fetches += 1
                    document: dict[str, Any] = issuer.metadata[self.path]
                elif self.path == "/jwks.json":
                    issuer.fetches += 1
                    document = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = origin + path
        self.jwks_url = f"{origin}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def serve_metadata(self, path: str, **changes: Any) -> None:
        """Answer `path` with this issuer's metadata (RFC 8414 / OpenID Connect discovery), changed by `changes`."""
        self.metadata[path] = {"issuer": self.url, "jwks_uri": self.jwks_url,
                               "token_endpoint": f"{self.url}/token", **changes}  # fmt: skip

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_key(
        self, kid: str, kind: str = "RSA", publish: bool = True, entry: dict[str, Any] | None = None
    ) -> PrivateKey:
        key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "RSA"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = key
        self.entries[kid] = entry or {}
        if publish:
            self.publish(kid)
        return key

    def publish(self, kid: str) -> None:
        self.published.append(kid)

    def retire(self, kid: str) -> None:
        self.published.remove(kid)

    def jwks(self) -> dict[str, Any]:
        found = []
        for kid in self.published:
            public = self.keys[kid].public_key()
            if isinstance(public, rsa.RSAPublicKey):
                jwk = RSAAlgorithm.to_jwk(public, as_dict=True) | {"alg": "RS256"}
            else:
                jwk = ECAlgorithm.to_jwk(public, as_dict=True) | {"alg": "ES256"}
            jwk |= {"kid": kid, "use": "sig"} | self.entries[kid]
            found.append({k: v for k, v in jwk.items() if v is not None})
        return {"keys": found}

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid claims for tenant `shop-a`; a change of None drops that claim."""
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.audience, "sub": "shop-a", "scope": f"openid {self.scope}",
                  "iat": now, "nbf": now - 5, "exp": now + 300}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self, kid: str = "k1", key: PrivateKey | None = None, header: dict[str, Any] | None = None, **changes: Any
    ) -> str:
        """A token signed by `key` (default: the key `kid` names), with `kid` and `typ: JWT` in its header, changed
        by `header` (a None drops a member)."""
        signer = key or self.keys[kid]
        alg = "RS256" if isinstance(signer, rsa.RSAPrivateKey) else "ES256"
        fields = {"kid": kid, "typ": "JWT"} | (header or {})
        kept = {k: v for k, v in fields.items() if v is not None or k == "typ"}  # PyJWT drops a None typ itself
        return jwt.encode(self.claims(**changes), signer, algorithm=alg, headers=kept)

    def unsigned(self, kid: str = "k1", **changes: Any) -> str:
        """`alg: none`: claims and no signature."""
        header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        return f"{header}.{b64url(json.dumps(self.claims(**changes)).encode())}."

    def hs256_with_public_key(self, kid: str = "k1", **changes: Any) -> str:
        """The classic confusion: HMAC-signed with the issuer's public key (PEM) as the shared secret."""
        pem = self.keys[kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signing = (
            b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "."
            + b64url(json.dumps(self.claims(**changes)).encode())
        )
        return f"{signing}.{b64url(hmac.new(pem, signing.encode(), hashlib.sha256).digest())}"
