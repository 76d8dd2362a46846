#!/usr/bin/env python3
"""Verify an Anteroom hold token on the venue's payment page (Python, PyJWT).

In origin checkout, Anteroom sends the fan to the venue's checkout URL with
`hold_id`, `hold_token` and `return_url` in the query. Before charging anyone, the
payment page's server checks that the token is Anteroom's and names that hold:

- the signature, against the public keys Anteroom publishes at
  `/.well-known/jwks.json` (Ed25519, fetched and cached by PyJWKClient; the token's
  `kid` picks the key, so a key rotation needs nothing from the venue);
- the algorithm, pinned to EdDSA (never taken from the token);
- `aud`, the event the venue sells; `exp`, required;
- `kind` is "hold" (a fan's pass has `kind: "pass"` and is refused);
- `sub`, the hold id, equals the `hold_id` of the query.

Then the page charges the hold's total, read from the origin API
(`GET /v1/origin/holds/{hold_id}` with the venue's API key), and its server confirms
with `POST /v1/origin/holds/{hold_id}/confirm`.

Usage:
    verify_hold_token.py --jwks URL --event EVENT_ID [--hold HOLD_ID] TOKEN

Prints the verified claims as JSON and exits 0, or prints the reason to stderr and
exits 1.
"""

import argparse
import json
import sys

import jwt


def verify_hold_token(token, jwks_url, event_id, hold_id=None):
    """The claims of `token` if it is a valid hold token for `event_id` (and `hold_id`).

    Raises `jwt.PyJWTError` (or ValueError for a wrong kind or hold) otherwise.
    """
    signing_key = jwt.PyJWKClient(jwks_url, cache_keys=True).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=event_id,
        options={"require": ["exp", "aud", "sub"]},
    )
    if claims.get("kind") != "hold":
        raise ValueError("not a hold token")
    if hold_id is not None and claims["sub"] != hold_id:
        raise ValueError("the token names another hold")
    return claims


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jwks", required=True, help="Anteroom's /.well-known/jwks.json URL")
    parser.add_argument("--event", required=True, help="the event id the venue sells")
    parser.add_argument("--hold", help="the hold_id of the query string")
    parser.add_argument("token")
    args = parser.parse_args()
    try:
        claims = verify_hold_token(args.token, args.jwks, args.event, args.hold)
    except (jwt.PyJWTError, ValueError) as e:
        print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
