// The JSON shapes of WebAuthn responses (WebAuthn Level 3 toJSON(), as @simplewebauthn/browser and
// PublicKeyCredential.toJSON() produce them), checked before they are parsed so bad input is a 400
// naming the field. Fields are base64url; lengths bound what a client can make us parse.
import * as z from 'zod/mini';

const b64url = (name: string, max: number, min = 0) =>
  z.string({ error: `${name} must be a base64url string` }).check(
    ...(min > 0 ? [z.minLength(min, `${name} is required`)] : []),
    z.maxLength(max, `${name} is too long`),
    z.regex(/^[A-Za-z0-9_-]*$/, `${name} must be base64url`),
  );

const common = {
  id: b64url('id', 1400, 1),
  rawId: b64url('rawId', 1400),
  type: z.literal('public-key', { error: 'type must be "public-key"' }),
  authenticatorAttachment: z.optional(z.enum(['platform', 'cross-platform'])),
  clientExtensionResults: z._default(z.record(z.string(), z.unknown()), {}),
};

export const AssertionResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url('clientDataJSON', 4096),
    authenticatorData: b64url('authenticatorData', 4096),
    signature: b64url('signature', 1024),
    userHandle: z.optional(b64url('userHandle', 128)),
  }),
});

export const RegistrationResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url('clientDataJSON', 4096),
    attestationObject: b64url('attestationObject', 8192),
    authenticatorData: z.optional(b64url('authenticatorData', 4096)),
    // Hints only (stored, handed back in allowCredentials): any short names, so new transports pass.
    transports: z.optional(z.array(z.string().check(z.maxLength(32))).check(z.maxLength(8))),
    publicKeyAlgorithm: z.optional(z.int()),
    publicKey: z.optional(b64url('publicKey', 2048)),
  }),
});
