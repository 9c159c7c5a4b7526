// The runtime ceiling: the smallest Worker that answers a route. Every other scenario is
// reported as a ratio to `GET /`, so the numbers say what the service costs on top of workerd
// (and of this machine's loopback + load generator), not how fast the machine is.
//
// `GET /kv` adds exactly one KV read of a missing key, the shape of the service's revocation
// check, to calibrate what one local KV round trip costs here (local KV is a simulator inside
// workerd; production KV is a different system, so read this as "local cost of one read").
//
// `GET /storage` (cold-start control, with the service's bindings): one D1 query and one KV read,
// so the local simulators' own first-use cost is in the control too, not counted as the service's.
const headers = { 'content-type': 'application/json' };

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === '/storage') {
      await env.DB.prepare('SELECT 1').first();
      await env.KV.get('bench-cold-control');
      return new Response('{"status":"ok"}', { headers });
    }
    if (pathname === '/kv') {
      const value = await env.KV.get('revoked:sid:bench-never-revoked');
      return new Response(JSON.stringify({ revoked: value !== null }), { headers });
    }
    return new Response('{"status":"ok"}', { headers });
  },
};
