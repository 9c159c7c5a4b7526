// The API reference: /openapi.json is the generated document, /docs renders every operation of it
// with Swagger UI taken from npm (no CDN) under the same strict CSP as the SPA (any violation is
// caught by 99-page-health), and the demo SPA links to it.
import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Scenario} t */
export default async function apiReference(t) {
  await t.step('/openapi.json is the OpenAPI 3.1 document, readable from any origin', async () => {
    const res = await fetch(`http://127.0.0.1:${t.port}/openapi.json`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const doc = await res.json();
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/auth/login']?.post, 'documents POST /auth/login');
    t.shared.operationCount = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
  }, { critical: false });

  await t.step('/docs renders every operation of the document under the strict CSP, linked from the SPA', async () => {
    const device = await t.kit.newDevice('reference');
    const page = await device.newPage();
    const res = await page.goto(`${t.origin}/docs/`);
    assert.equal(res?.status(), 200);
    const csp = res?.headers()['content-security-policy'] ?? '';
    assert.ok(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `strict CSP: ${csp}`);
    await page.locator('.opblock').first().waitFor();
    const rendered = await page.locator('.opblock').count();
    assert.equal(rendered, t.shared.operationCount, 'one block per operation');
    assert.ok((await page.locator('.opblock-summary-path', { hasText: '/auth/login' }).count()) >= 1);
    // Every script and stylesheet came from this origin.
    const external = await page.evaluate(() =>
      [...document.querySelectorAll('script[src], link[href]')].map((e) => /** @type {any} */ (e).src || /** @type {any} */ (e).href).filter((u) => !u.startsWith(location.origin)),
    );
    assert.deepEqual(external, []);

    const spa = await device.newPage();
    await spa.goto(`${t.origin}/`);
    assert.equal(await spa.locator('a[href="/docs/"]').count() >= 1, true, 'the demo SPA links to /docs/');
    await page.close();
    await spa.close();
  }, { critical: false });
}
