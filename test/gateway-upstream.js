// The upstream of the gateway tests: a second Worker behind the UPSTREAM service binding
// (vitest.config.ts). It answers with what it received (method, path, query, headers, body digest)
// and records every request's `marker` query parameter, so a test can prove a refused request
// never arrived (GET /__recorded, called on the binding directly). A few paths misbehave on purpose.
const recorded = [];

async function sha256(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/__recorded') return Response.json(recorded);
    const marker = url.searchParams.get('marker');
    if (marker) recorded.push(marker);

    if (url.pathname === '/set-cookie') {
      const headers = new Headers({ 'Content-Type': 'text/plain', 'Keep-Alive': 'timeout=5', 'X-Custom': 'kept', 'Clear-Site-Data': '"cookies", "storage"' });
      for (const cookie of [
        '__Host-edge_access=planted; Path=/; Secure; HttpOnly',
        '__Secure-edge_refresh=planted; Path=/auth/refresh; Secure; HttpOnly',
        '__Host-edge_csrf=; Path=/; Secure; Max-Age=0',
        'edge_access=planted; Path=/',
        '=__Host-edge_access=planted; Path=/; Secure',
        '__Host-edge_csrf; Path=/; Secure',
        'app_theme=dark; Path=/; Secure',
        'app_session=abc; Path=/; Secure; HttpOnly',
      ]) headers.append('Set-Cookie', cookie);
      return new Response('cookies', { headers });
    }
    if (url.pathname === '/slow') {
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms') ?? '1000')));
      return new Response('late');
    }
    if (url.pathname === '/redirect') return new Response(null, { status: 302, headers: { Location: '/elsewhere' } });
    if (url.pathname.startsWith('/status/')) return new Response('status', { status: Number(url.pathname.slice(8)) });
    if (url.pathname === '/throw') throw new Error('the upstream failed at 10.0.0.7:8443');
    if (url.pathname === '/csp') {
      return new Response('page', { headers: { 'Content-Security-Policy': "default-src 'self'", 'X-Frame-Options': 'SAMEORIGIN', 'X-Request-Id': 'from-upstream', 'Content-Type': 'text/html' } });
    }
    if (url.pathname === '/page') {
      // A page with no content policy of its own, and its own HSTS.
      return new Response('<!doctype html><script src="/app.js"></script>', { headers: { 'Content-Type': 'text/html', 'Strict-Transport-Security': 'max-age=60' } });
    }
    if (url.pathname === '/stream') {
      // Two chunks 1 s apart: the test reads the first before the second exists.
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      const enc = new TextEncoder();
      (async () => {
        await writer.write(enc.encode('data: one\n\n'));
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await writer.write(enc.encode('data: two\n\n'));
        await writer.close();
      })();
      return new Response(readable, { headers: { 'Content-Type': 'text/event-stream' } });
    }
    if (url.pathname === '/ws' && request.headers.get('Upgrade') === 'websocket') {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener('message', (event) => server.send(`echo:${event.data}`));
      return new Response(null, { status: 101, webSocket: client });
    }

    const body = request.body ? await request.arrayBuffer() : null;
    if (marker) recorded.push(`${marker}:read:${body ? body.byteLength : 0}`); // the whole body arrived
    const answer = JSON.stringify(
      {
        method: request.method,
        url: request.url,
        path: url.pathname,
        search: url.search,
        headers: Object.fromEntries(request.headers),
        bodyLength: body ? body.byteLength : null,
        bodySha256: body ? await sha256(body) : null,
      },
    );
    // Declared, as an HTTP origin would: the gateway's log reports it as bytes out.
    const bytes = new TextEncoder().encode(answer);
    return new Response(bytes, { headers: { 'Content-Type': 'application/json', 'Content-Length': String(bytes.byteLength), 'X-Upstream': 'echo' } });
  },
};
