// An independent OAuth 2 client against a real `npm run dev` server: oauth4webapi (a spec-strict
// client that nobody here wrote) drives discovery (RFC 8414), client_credentials (RFC 6749 section
// 4.4), validates the issued access token as a resource server would (RFC 9068), then
// introspection (RFC 7662) and revocation (RFC 7009). Bounded: every wait has a deadline and the
// server's whole process group is always stopped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import * as oauth from 'oauth4webapi';
import { ROOT, startServer } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const insecure = { [oauth.allowInsecureRequests]: true }; // http://127.0.0.1 only: a local test server

describe('an independent OAuth client (oauth4webapi) against wrangler dev', () => {
  let server;
  let issuer;
  let admin;

  const post = (path, body, token) =>
    fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });

  before(async () => {
    server = await startServer({ varsFor: (port) => ({ JWT_ISSUER: `http://127.0.0.1:${port}` }) });
    issuer = server.base;
    // An administrator: registered over HTTP, promoted in the database the server uses.
    assert.equal((await post('/auth/register', { username: 'oauth_admin', password: PASSWORD })).status, 201);
    const sql = "UPDATE users SET roles = '[\"admin\"]' WHERE username_key = 'oauth_admin'";
    const promoted = spawnSync('npx', ['wrangler', 'd1', 'execute', 'DB', '--local', '--persist-to', server.persist, '--command', sql], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    assert.equal(promoted.status, 0, promoted.stderr);
    admin = await (await post('/auth/login', { username: 'oauth_admin', password: PASSWORD })).json();
  });

  after(async () => {
    await server?.stop();
  });

  it('discovery, client_credentials, RFC 9068 validation, introspection and revocation', async () => {
    const created = await post('/admin/clients', { name: 'reporting partner', roles: ['reports', 'billing'] }, admin.access_token);
    assert.equal(created.status, 201);
    const { client: view, client_secret: secret } = await created.json();

    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }));
    assert.equal(as.token_endpoint, `${issuer}/oauth/token`);
    assert.deepEqual(as.grant_types_supported, ['client_credentials']);
    const client = { client_id: view.client_id };

    for (const auth of [oauth.ClientSecretBasic(secret), oauth.ClientSecretPost(secret)]) {
      const response = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'reports' }), insecure);
      const result = await oauth.processClientCredentialsResponse(as, client, response);
      assert.equal(result.token_type, 'bearer'); // oauth4webapi lower-cases it
      assert.equal(result.scope, 'reports');
      assert.equal(result.refresh_token, undefined);

      // As a resource server would: RFC 9068 checks (typ at+jwt, iss, aud, exp, signature from the JWKS).
      const request = new Request(`${issuer}/api/private`, { headers: { Authorization: `Bearer ${result.access_token}` } });
      const claims = await oauth.validateJwtAccessToken(as, request, 'edge-auth', insecure);
      assert.equal(claims.client_id, view.client_id);
      assert.equal(claims.sub, view.client_id);
    }

    const { access_token: token } = await oauth.processClientCredentialsResponse(
      as,
      client,
      await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), new URLSearchParams(), insecure),
    );
    const live = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(secret), token, insecure));
    assert.equal(live.active, true);
    assert.equal(live.client_id, view.client_id);
    assert.equal(live.scope, 'reports billing');

    const user = await (await post('/auth/login', { username: 'oauth_admin', password: PASSWORD })).json();
    const userIntro = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, oauth.ClientSecretPost(secret), user.access_token, insecure));
    assert.equal(userIntro.active, true);
    assert.equal(userIntro.username, 'oauth_admin');

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(secret), token, insecure));
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(secret), user.refresh_token, insecure));
    const dead = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(secret), token, insecure));
    assert.equal(dead.active, false);
    assert.equal((await post('/auth/refresh', { refresh_token: user.refresh_token })).status, 401);

    // A wrong secret: a 401 with the Basic challenge (RFC 6749 section 5.2) and the RFC error body.
    const refused = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('ecs_wrong'), new URLSearchParams(), insecure);
    await assert.rejects(oauth.processClientCredentialsResponse(as, client, refused.clone()), (err) => err instanceof oauth.WWWAuthenticateChallengeError && err.cause[0].scheme === 'basic');
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error, 'invalid_client');
  });
});
