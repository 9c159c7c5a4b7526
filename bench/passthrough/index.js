// The comparison for the gateway scenarios: the least a Worker in front of an origin can do,
// forward the request to UPSTREAM and return the response as it comes (streamed). The gateway's
// goal is at most 1.3x this Worker's cost per request.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(`${env.UPSTREAM}${url.pathname}${url.search}`, { method: request.method, headers: request.headers, body: request.body, redirect: 'manual' });
  },
};
