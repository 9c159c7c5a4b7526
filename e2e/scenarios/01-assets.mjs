// The SPA is served as static assets beside the API, with its strict CSP, and as the fallback for
// client-side routes.
import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Scenario} t */
export default async function assets(t) {
  await t.step('the SPA is served as static assets with a strict CSP (and SPA fallback)', async () => {
    for (const p of ['/', '/some/client/route']) {
      const res = await fetch(`http://127.0.0.1:${t.port}${p}`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200, `${p} status`);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/, `${p} content-type`);
      const csp = res.headers.get('content-security-policy') ?? '';
      for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]) {
        assert.ok(csp.includes(directive), `${p}: CSP lacks ${directive}: "${csp}"`);
      }
      assert.match(await res.text(), /edge-auth/);
    }
  }, { critical: false });
}
