// The JSON shapes of WebAuthn responses (WebAuthn Level 3 toJSON(), as @simplewebauthn/browser and
// PublicKeyCredential.toJSON() produce them), checked before the library sees them so bad input is
// a 400 naming the field. Fields are base64url; lengths bound what a client can make us parse.
import { z } from 'zod';

const b64url = (name: string, max: number) =>
  z.string({ error: `${name} must be a base64url string` }).max(max, `${name} is too long`).regex(/^[A-Za-z0-9_-]*$/, `${name} must be base64url`);

const common = {
  id: b64url('id', 1400).min(1, 'id is required'),
  rawId: b64url('rawId', 1400),
  type: z.literal('public-key', { error: 'type must be "public-key"' }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
};

export const AssertionResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url('clientDataJSON', 4096),
    authenticatorData: b64url('authenticatorData', 4096),
    signature: b64url('signature', 1024),
    userHandle: b64url('userHandle', 128).optional(),
  }),
});

export const RegistrationResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url('clientDataJSON', 4096),
    attestationObject: b64url('attestationObject', 8192),
    authenticatorData: b64url('authenticatorData', 4096).optional(),
    // Hints only (stored, handed back in allowCredentials): any short names, so new transports pass.
    transports: z.array(z.string().max(32)).max(8).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url('publicKey', 2048).optional(),
  }),
});
