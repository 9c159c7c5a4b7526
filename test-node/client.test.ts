// The typed client (client/, the @edge-auth/client workspace package) drives a whole session
// against a real `npm run dev` server: typed calls, typed errors, the shared refresh of an expired
// access token, API keys, sign-out. Every answer it receives is also checked against the
// generated document (test/contract.ts), so the document is tested against a live server too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEdgeAuthClient, memoryTokenStore } from '@edge-auth/client';
import { contractProblems } from '../test/contract';
import { startServer, type Server } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const TTL = 3; // access-token lifetime of this server, seconds

describe('the typed client (@edge-auth/client) against wrangler dev', () => {
  let server: Server;
  const seen: { method: string; path: string; status: number }[] = [];
  const problems: string[] = [];
  let refreshes = 0;

  /** The client's fetch: counts refreshes and checks every answer against public/openapi.json. */
  const observed: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname;
    if (path === '/auth/refresh') refreshes++;
    const res = await fetch(request);
    seen.push({ method: request.method, path, status: res.status });
    problems.push(...(await contractProblems(request.method, path, res)));
    return res;
  };

  before(async () => {
    // No leeway: an access token is refused as soon as it expires, so the refresh path runs.
    server = await startServer({ vars: { ACCESS_TOKEN_TTL: String(TTL), CLOCK_LEEWAY: '0' } });
  });

  after(async () => {
    await server?.stop();
  });

  it('registers, signs in, calls typed routes, refreshes once for concurrent callers, signs out', async () => {
    const tokens = memoryTokenStore();
    const { api, session } = createEdgeAuthClient({ baseUrl: server.base, mode: 'bearer', fetch: observed, tokens });
    const username = `typed_${Date.now().toString(36)}`;

    const registered = await api.POST('/auth/register', { body: { username, password: PASSWORD } });
    assert.equal(registered.response.status, 201);
    assert.equal(registered.data?.user.username, username);

    // A typed error: the body is the document's error shape for that status.
    const wrong = await api.POST('/auth/login', { body: { username, password: 'not the password' } });
    assert.equal(wrong.response.status, 401);
    assert.equal(wrong.error?.error, 'invalid_credentials');
    assert.equal(session.tokens(), null);

    const login = await api.POST('/auth/login', { body: { username, password: PASSWORD } });
    assert.equal(login.response.status, 200);
    assert.ok(login.data && 'access_token' in login.data, 'bearer mode returns the tokens');
    const first = session.tokens();
    assert.ok(first, 'the client keeps the token pair of the login');

    const me = await api.GET('/auth/me');
    assert.equal(me.data?.user.username, username);
    const sessions = await api.GET('/auth/sessions');
    assert.equal(sessions.data?.sessions.length, 1);
    assert.equal(sessions.data?.sessions[0]?.current, true);

    // The access token expires; five concurrent calls share ONE refresh and all succeed.
    await new Promise((r) => setTimeout(r, (TTL + 1.5) * 1000));
    const before = refreshes;
    const answers = await Promise.all(Array.from({ length: 5 }, () => api.GET('/auth/me')));
    assert.deepEqual(
      answers.map((a) => a.response.status),
      [200, 200, 200, 200, 200],
    );
    assert.equal(refreshes - before, 1, 'one refresh for five callers');
    assert.notEqual(session.tokens()?.refresh_token, first.refresh_token, 'the refresh token rotated');

    // Path parameters and bodies are typed too: an API key, listed and revoked.
    const created = await api.POST('/auth/api-keys', { body: { name: 'typed client key' } });
    assert.equal(created.response.status, 201);
    assert.match(created.data?.api_key ?? '', /^eak_/);
    const keyId = created.data!.key.id;
    const revoked = await api.DELETE('/auth/api-keys/{id}', { params: { path: { id: keyId } } });
    assert.equal(revoked.response.status, 204);
    const listed = await api.GET('/auth/api-keys');
    assert.deepEqual(listed.data?.api_keys, []);

    // Sign-out ends the session and the client forgets the tokens; the old access token is refused.
    const old = session.tokens()!.access_token;
    assert.equal((await api.POST('/auth/logout')).response.status, 204);
    assert.equal(session.tokens(), null);
    const after = await api.GET('/auth/me', { headers: { Authorization: `Bearer ${old}` } });
    assert.equal(after.response.status, 401);
    assert.equal(after.error?.error, 'invalid_token');

    assert.ok(seen.length >= 14, `saw ${seen.length} answers`);
    assert.deepEqual(problems, [], 'every answer matches public/openapi.json');
  });
});
