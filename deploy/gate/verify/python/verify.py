#!/usr/bin/env python3
"""Verify an Anteroom pass in the shop's own server (docs/GATE.md, "Verifying the pass").

Copy `verify_pass` and keep one `PyJWKClient` per process: it fetches the gateway's
JWKS (`/.well-known/jwks.json`) once and again only for a `kid` it has not seen, so a
key rotation is picked up without a restart.

A pass is an EdDSA (Ed25519) JWT: `sub` = ticket id, `aud` = event id, `kind` = "pass",
`exp`/`iat` in Unix seconds. This checks the signature, the expiry, the audience and
the kind; it cannot see a pass that was ended early (revoked): the gateway's
`/v1/gate/check`, asked by the proxy on every request, does that.

CLI: verify.py JWKS_URL EVENT_ID TOKEN -> prints the ticket id and exits 0, or prints
why the pass is refused on stderr and exits 1 (2 for wrong usage).
"""

import sys

import jwt
from jwt import PyJWKClient

# Leeway for clocks a little apart, in seconds.
LEEWAY_SECONDS = 5


def verify_pass(token: str, event_id: str, jwks: PyJWKClient) -> dict:
    """Claims of a good pass for `event_id`; raises `jwt.InvalidTokenError` otherwise
    (bad signature, unknown key, expired, another event, not a pass)."""
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["EdDSA"],
        audience=event_id,
        leeway=LEEWAY_SECONDS,
        options={"require": ["sub", "aud", "exp", "kind"]},
    )
    if claims["kind"] != "pass":
        raise jwt.InvalidTokenError(f"not a pass (kind {claims['kind']!r})")
    return claims


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(f"usage: {argv[0]} JWKS_URL EVENT_ID TOKEN", file=sys.stderr)
        return 2
    jwks_url, event_id, token = argv[1:]
    try:
        claims = verify_pass(token, event_id, PyJWKClient(jwks_url))
    except jwt.PyJWTError as err:
        print(f"refused: {err}", file=sys.stderr)
        return 1
    print(claims["sub"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
