// @ts-check
// WebAuthn in the browser: the server's options (JSON, base64url) to navigator.credentials calls
// and the resulting credential back to JSON, as WebAuthn Level 3's parse*FromJSON / toJSON do
// (written out so older browsers work too). No dependencies.

/** @param {string} text @returns {ArrayBuffer} */
function fromB64url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

/** @param {ArrayBuffer | null | undefined} buf @returns {string | undefined} */
function toB64url(buf) {
  if (!buf) return undefined;
  let bin = '';
  for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @param {{ id: string, transports?: string[] }[] | undefined} list */
function descriptors(list) {
  return (list ?? []).map((c) => ({ type: /** @type {const} */ ('public-key'), id: fromB64url(c.id), transports: /** @type {any} */ (c.transports) }));
}

/** True when this browser can create and use passkeys. */
export function passkeysSupported() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

/**
 * Registration: options from POST /auth/passkeys/register/options -> the JSON to POST back.
 * @param {any} options
 */
export async function createPasskey(options) {
  const cred = /** @type {PublicKeyCredential | null} */ (
    await navigator.credentials.create({
      publicKey: {
        ...options,
        challenge: fromB64url(options.challenge),
        user: { ...options.user, id: fromB64url(options.user.id) },
        excludeCredentials: descriptors(options.excludeCredentials),
      },
    })
  );
  if (!cred) throw new Error('No passkey was created.');
  const response = /** @type {AuthenticatorAttestationResponse} */ (cred.response);
  return credentialJSON(cred, {
    clientDataJSON: toB64url(response.clientDataJSON),
    attestationObject: toB64url(response.attestationObject),
    transports: typeof response.getTransports === 'function' ? response.getTransports() : undefined,
  });
}

/**
 * A credential as WebAuthn Level 3's toJSON() gives it, with its kind's `response` members.
 * @param {PublicKeyCredential} cred
 * @param {Record<string, unknown>} response
 */
function credentialJSON(cred, response) {
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
    clientExtensionResults: cred.getClientExtensionResults(),
    response,
  };
}

/**
 * Assertion (sign-in or second factor): options from the server -> the JSON to POST back.
 * @param {any} options
 */
export async function getPasskey(options) {
  const cred = /** @type {PublicKeyCredential | null} */ (
    await navigator.credentials.get({
      publicKey: { ...options, challenge: fromB64url(options.challenge), allowCredentials: descriptors(options.allowCredentials) },
    })
  );
  if (!cred) throw new Error('No passkey was used.');
  const response = /** @type {AuthenticatorAssertionResponse} */ (cred.response);
  return credentialJSON(cred, {
    clientDataJSON: toB64url(response.clientDataJSON),
    authenticatorData: toB64url(response.authenticatorData),
    signature: toB64url(response.signature),
    userHandle: toB64url(response.userHandle),
  });
}
