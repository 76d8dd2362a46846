#!/usr/bin/env node
// Verify an Anteroom hold token on the venue's payment page (Node, `jose`).
//
// In origin checkout, Anteroom sends the fan to the venue's checkout URL with
// `hold_id`, `hold_token` and `return_url` in the query. Before charging anyone, the
// payment page's server checks that the token is Anteroom's and names that hold: the
// signature against the keys published at `/.well-known/jwks.json` (the token's `kid`
// picks the key; `createRemoteJWKSet` fetches and caches them), the algorithm pinned to
// EdDSA, `aud` the event the venue sells, `exp` required, `kind: "hold"` (a fan's pass
// is refused), and `sub` equal to the query's `hold_id`.
//
// Usage: verify-hold-token.mjs --jwks URL --event EVENT_ID [--hold HOLD_ID] TOKEN
// Prints the verified claims as JSON and exits 0, or the reason on stderr and exits 1.

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const keySets = new Map();

/**
 * The claims of `token` if it is a valid hold token for `eventId` (and `holdId`);
 * throws otherwise. Key sets are cached per JWKS URL.
 */
export async function verifyHoldToken(token, { jwksUrl, eventId, holdId }) {
  if (!keySets.has(jwksUrl)) keySets.set(jwksUrl, createRemoteJWKSet(new URL(jwksUrl)));
  const { payload } = await jwtVerify(token, keySets.get(jwksUrl), {
    algorithms: ['EdDSA'],
    audience: eventId,
    requiredClaims: ['exp', 'aud', 'sub'],
  });
  if (payload.kind !== 'hold') throw new Error('not a hold token');
  if (holdId !== undefined && payload.sub !== holdId) throw new Error('the token names another hold');
  return payload;
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { jwks: { type: 'string' }, event: { type: 'string' }, hold: { type: 'string' } },
    allowPositionals: true,
  });
  if (!values.jwks || !values.event || positionals.length !== 1) {
    console.error('usage: verify-hold-token.mjs --jwks URL --event EVENT_ID [--hold HOLD_ID] TOKEN');
    return 2;
  }
  try {
    const claims = await verifyHoldToken(positionals[0], {
      jwksUrl: values.jwks, eventId: values.event, holdId: values.hold,
    });
    const sorted = Object.fromEntries(Object.entries(claims).sort(([a], [b]) => a.localeCompare(b)));
    console.log(JSON.stringify(sorted));
    return 0;
  } catch (e) {
    console.error(`refused: ${e.code || e.name}: ${e.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
