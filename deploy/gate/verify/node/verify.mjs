#!/usr/bin/env node
// Verify an Anteroom pass in the shop's own server (docs/GATE.md, "Verifying the pass").
//
// Copy `verifyPass` and keep one `createRemoteJWKSet` per process: it fetches the
// gateway's JWKS (`/.well-known/jwks.json`) once, again for a `kid` it has not seen (key
// rotation) and caches it meanwhile.
//
// A pass is an EdDSA (Ed25519) JWT: `sub` = ticket id, `aud` = event id, `kind` = "pass",
// `exp`/`iat` in Unix seconds. This checks the signature, the expiry, the audience and the
// kind; it cannot see a pass that was ended early (revoked): the gateway's
// `/v1/gate/check`, asked by the proxy on every request, does that.
//
// CLI: verify.mjs JWKS_URL EVENT_ID TOKEN -> prints the ticket id and exits 0, or prints
// why the pass is refused on stderr and exits 1 (2 for wrong usage).

import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { pathToFileURL } from 'node:url';

// Leeway for clocks a little apart, in seconds.
const LEEWAY_SECONDS = 5;

/**
 * Claims of a good pass for `eventId`; throws a `jose` error otherwise (bad signature,
 * unknown key, expired, another event, not a pass).
 * @param {string} token the pass (JWT)
 * @param {string} eventId the gated event's UUID (the pass's `aud`)
 * @param {ReturnType<typeof createRemoteJWKSet>} jwks the gateway's key set
 */
export async function verifyPass(token, eventId, jwks) {
  const { payload } = await jwtVerify(token, jwks, {
    algorithms: ['EdDSA'],
    audience: eventId,
    clockTolerance: LEEWAY_SECONDS,
    requiredClaims: ['sub', 'exp', 'kind'],
  });
  if (payload.kind !== 'pass') {
    throw new errors.JWTClaimValidationFailed('not a pass', payload, 'kind', 'check_failed');
  }
  return payload;
}

async function main(argv) {
  if (argv.length !== 3) {
    console.error('usage: verify.mjs JWKS_URL EVENT_ID TOKEN');
    return 2;
  }
  const [jwksUrl, eventId, token] = argv;
  try {
    const claims = await verifyPass(token, eventId, createRemoteJWKSet(new URL(jwksUrl)));
    console.log(claims.sub);
    return 0;
  } catch (err) {
    console.error(`refused: ${err.code ?? err.name}: ${err.message}`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
