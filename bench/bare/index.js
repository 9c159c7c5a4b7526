// The runtime ceiling: the smallest Worker that answers a route. Every other scenario is
// reported as a ratio to `GET /`, so the numbers say what the service costs on top of workerd
// (and of this machine's loopback + load generator), not how fast the machine is.
//
// `GET /kv` adds exactly one KV read of a missing key, the shape of the service's revocation
// check, to calibrate what one local KV round trip costs here (local KV is a simulator inside
// workerd; production KV is a different system, so read this as "local cost of one read").
const headers = { 'content-type': 'application/json' };

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === '/kv') {
      const value = await env.KV.get('revoked:sid:bench-never-revoked');
      return new Response(JSON.stringify({ revoked: value !== null }), { headers });
    }
    return new Response('{"status":"ok"}', { headers });
  },
};
