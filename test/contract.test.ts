// The contract checker itself (test/contract.ts): it must catch each kind of disagreement, or the
// guarantee that every observed response matches public/openapi.json would be empty. The document's
// coverage of the routes is checked by scripts/openapi.mjs (npm run test:openapi).
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app';
import document from '../public/openapi.json';
import { contractProblems } from './contract';
import { Client, testEnv } from './helpers';

const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'r', ...headers } });
const user = { id: 'u', username: 'alice', email: null, email_verified: false, roles: [], created_at: 1 };

describe('the contract checker', () => {
  it('accepts a documented answer', async () => {
    expect(await contractProblems('GET', '/auth/me', json({ user }, 200))).toEqual([]);
    expect(await contractProblems('DELETE', '/auth/sessions/7d0b5f0e-8a57-4f3c-9d8e-0f6b2a1c3d4e', new Response(null, { status: 204, headers: { 'X-Request-Id': 'r' } }))).toEqual([]);
  });

  it('refuses an undeclared status, an undocumented field, a wrong error code, a missing header, a body where none is declared', async () => {
    expect((await contractProblems('GET', '/auth/me', json({ user }, 418))).join()).toMatch(/status not declared/);
    expect((await contractProblems('GET', '/auth/me', json({ user: { ...user, password_hash: 'x' } }, 200))).join()).toMatch(/does not match/);
    expect((await contractProblems('POST', '/auth/login', json({ error: 'invalid_token', message: 'm' }, 401))).join()).toMatch(/does not match/);
    expect((await contractProblems('GET', '/auth/me', json({ error: 'unauthorized', message: 'm' }, 401))).join()).toMatch(/header WWW-Authenticate missing/);
    expect((await contractProblems('GET', '/auth/me', new Response(JSON.stringify({ user }), { status: 200, headers: { 'Content-Type': 'application/json' } }))).join()).toMatch(/X-Request-Id missing/);
    expect((await contractProblems('POST', '/oauth/revoke', json({}, 200))).join()).toMatch(/without a body/);
  });

  it('holds undocumented paths of the service to the house 404, and leaves other paths (gateway, assets) alone', async () => {
    expect((await contractProblems('GET', '/auth/nope', json({ user }, 200))).join()).toMatch(/not in the document/);
    expect(await contractProblems('GET', '/auth/nope', json({ error: 'not_found', message: 'Not found.' }, 404))).toEqual([]);
    expect(await contractProblems('GET', '/app-api/anything', json({ any: 'thing' }, 200))).toEqual([]);
  });

  it('the document names every route the app serves (the generator checks this too)', () => {
    const paths = (document as { paths: Record<string, Record<string, unknown>> }).paths;
    const served = new Set(createApp().routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`));
    const documented = new Set(Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  });

  it('a Client fails the test that receives a disagreeing answer', async () => {
    const client = new Client(testEnv());
    // A route the document does not know, answering 200: the request itself must throw.
    client.app.get('/auth/contract-probe', (c) => c.json({ hello: 'world' }));
    expect((await client.request('GET', '/health')).status).toBe(200);
    await expect(client.request('GET', '/auth/contract-probe')).rejects.toThrow(/disagrees with public\/openapi.json/);
  });
});
