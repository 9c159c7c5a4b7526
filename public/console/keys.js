// @ts-check
// Signing keys (docs/keys.md): the ring as GET /admin/keys lists it (kids, algorithms, statuses and
// dates; the service never sends key material) and a rotation (POST /admin/keys/rotate).
import { $, cells, dangerButton, formatTime, h, setStatus, table } from './dom.js';

/**
 * @typedef {{ kid: string, alg: string, status: string, created_at: number, activated_at: number | null,
 *   retired_at: number | null, retire_after: number | null, verifies: boolean }} KeyInfo
 * @typedef {{ signing: { alg: string, kid: string | null, source: 'JWT_SECRET' | 'd1' }, rotation_overlap: number, keys: KeyInfo[] }} KeyRing
 */

/** @param {import('../js/edge-auth-client.js').AuthClient} auth */
export function createKeysView(auth) {
  const box = $('keys-view');

  async function load() {
    /** @type {KeyRing} */
    const ring = await auth.request('/admin/keys');
    const fromSecret = ring.signing.source === 'JWT_SECRET';
    box.replaceChildren(
      h(
        'p',
        {},
        `Tokens are signed with ${ring.signing.alg}, key `,
        h('code', { id: 'signing-kid', textContent: ring.signing.kid ?? 'none yet' }),
        fromSecret ? ' (the JWT_SECRET secret: rotate it by changing the secret).' : ` (from D1). A rotated-out key keeps verifying for ${ring.rotation_overlap} s.`,
      ),
      table(['Key id', 'Algorithm', 'Status', 'Created', 'Activated', 'Retired', 'Verifies until', 'Verifies now'], ring.keys, (k) =>
        h(
          'tr',
          { dataset: { kid: k.kid, status: k.status } },
          ...cells(h('code', { textContent: k.kid }), k.alg, k.status, formatTime(k.created_at), formatTime(k.activated_at), formatTime(k.retired_at), formatTime(k.retire_after), k.verifies ? 'yes' : 'no'),
        ),
        'No key in D1 yet: the first is made on the first signature.',
      ),
      fromSecret
        ? ''
        : dangerButton('Rotate now', async () => {
            /** @type {{ alg: string, active: string, next: string, retired: string | null, retire_after: number | null }} */
            const res = await auth.request('/admin/keys/rotate', { method: 'POST' });
            setStatus(`Rotated: ${res.active} now signs${res.retired ? `; ${res.retired} verifies until ${formatTime(res.retire_after)}` : ''}.`, 'ok');
            await load();
          }),
    );
  }

  return {
    show: load,
    reset: () => box.replaceChildren(),
  };
}
