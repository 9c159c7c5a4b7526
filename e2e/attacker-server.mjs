// A hostile page on another origin. It tries the classic cross-site request forgeries against a
// signed-in edge-auth SPA: a credentialed fetch (no-cors, so no preflight), a credentialed CORS
// fetch with a guessed CSRF header (needs a preflight), and a plain HTML form POST.
import http from 'node:http';

/** @param {string} target origin of the edge-auth service, e.g. http://localhost:8787 */
function page(target) {
  const t = JSON.stringify(target);
  return `<!doctype html>
<meta charset="utf-8">
<title>Totally harmless page</title>
<h1>Win a prize!</h1>
<form id="csrf-form" method="POST" action="${target}/auth/logout-all" enctype="text/plain">
  <input type="hidden" name='{"x":"' value='"}'>
  <button id="csrf-submit" type="submit">Claim</button>
</form>
<pre id="out"></pre>
<script>
  const target = ${t};
  // Each attempt reports what the attacker's script could observe; the harness also watches
  // what reached the server.
  window.fetchAttacks = async () => {
    const results = {};
    const attempt = async (name, url, init) => {
      try {
        const res = await fetch(url, init);
        results[name] = { type: res.type, status: res.status };
      } catch (err) {
        results[name] = { error: String(err) };
      }
    };
    await attempt('no-cors logout-all', target + '/auth/logout-all',
      { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}' });
    await attempt('no-cors logout', target + '/auth/logout',
      { method: 'POST', mode: 'no-cors', credentials: 'include',
        headers: { 'Content-Type': 'text/plain' }, body: '{}' });
    await attempt('cors logout-all + guessed csrf', target + '/auth/logout-all',
      { method: 'POST', mode: 'cors', credentials: 'include',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'guess' }, body: '{}' });
    await attempt('cors read /auth/me', target + '/auth/me', { credentials: 'include' });
    document.getElementById('out').textContent = JSON.stringify(results, null, 2);
    return results;
  };
</script>`;
}

/**
 * @param {{ target: string, host?: string }} opts
 * @returns {Promise<{ port: number, close: () => Promise<void> }>}
 */
export async function startAttackerServer({ target, host = '127.0.0.1' }) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(page(target));
  });
  await new Promise((resolve) => server.listen(0, host, () => resolve(undefined)));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
