// Key material on WebCrypto alone (src/tokens/key-material.ts; jose's key helpers were dropped to
// keep the bundle under budget): its RFC 7638 thumbprints are jose's, and keys sealed in the format
// jose's exportJWK wrote (rows of earlier deploys) still import, sign and verify.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { encryptSecret } from '../src/crypto/encrypt';
import { generateSealedKey, importKey, jwkThumbprint } from '../src/tokens/key-material';

const KEK = 'test-key-encryption-key-0123456789abcdefghijklmnop';

describe('key material on WebCrypto', () => {
  it('a generated ES256 key: its kid is the RFC 7638 thumbprint jose computes, and it signs what its public half verifies', async () => {
    const sealed = await generateSealedKey('ES256', KEK);
    const pub = JSON.parse(sealed.publicJwk!);
    expect(Object.keys(pub).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(sealed.kid).toBe(await calculateJwkThumbprint({ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y }));
    const signer = await importKey(sealed, KEK, 'sign');
    const verifier = await importKey(sealed, KEK, 'verify');
    expect(signer.extractable).toBe(false);
    const jwt = await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'ES256', kid: sealed.kid }).sign(signer);
    expect((await jwtVerify(jwt, verifier, { algorithms: ['ES256'] })).payload.sub).toBe('u');
  });

  it('a key sealed as jose exported it imports and verifies; the thumbprint matches jose on many keys', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(pub);
    const row = {
      kid,
      alg: 'ES256' as const,
      publicJwk: JSON.stringify({ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg: 'ES256', use: 'sig' }),
      privateEnc: await encryptSecret(KEK, JSON.stringify(await exportJWK(privateKey)), kid),
    };
    const jwt = await new SignJWT({ sub: 'v' }).setProtectedHeader({ alg: 'ES256', kid }).sign(await importKey(row, KEK, 'sign'));
    expect((await jwtVerify(jwt, await importKey(row, KEK, 'verify'))).payload.sub).toBe('v');
    for (let i = 0; i < 20; i++) {
      const k = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
      expect(await jwkThumbprint(k as JsonWebKey)).toBe(await calculateJwkThumbprint(k));
    }
  });
});
