// The deploy pre-flight, offline: what `npm run deploy` refuses before it touches the network.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfig, checkSecrets, parseSecretList } from '../scripts/preflight.mjs';
import { COMMITTED_TOML, edit, filledToml, inputFor } from './fixtures.mjs';

/** Placeholders written in the [env.<name>] tables of a TOML text (a line scan, by table header). */
function placeholdersOf(toml, envName) {
  let inEnv = false;
  const found = [];
  for (const line of toml.split('\n')) {
    const header = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
    if (header) inEnv = header[1] === `env.${envName}` || header[1].startsWith(`env.${envName}.`);
    else if (inEnv && !line.trim().startsWith('#')) found.push(...(line.match(/REPLACE_WITH_[A-Z0-9_]+/g) ?? []));
  }
  return found;
}

const settings = (result) => result.problems.map((p) => p.setting);
const messages = (result) => result.problems.map((p) => `${p.setting}: ${p.message}`).join('\n');

describe('pre-flight on the committed wrangler.toml', () => {
  for (const envName of ['staging', 'production']) {
    it(`${envName}: refuses exactly the REPLACE_WITH_ placeholders, naming each`, () => {
      const result = checkConfig(inputFor(COMMITTED_TOML, envName));
      assert.ok(result.problems.length > 0);
      for (const p of result.problems) assert.match(p.message, /still reads ".*REPLACE_WITH_[A-Z_]+.*": replace it/, p.setting);
      const expected = new Set(placeholdersOf(COMMITTED_TOML, envName));
      const named = new Set(result.problems.map((p) => /REPLACE_WITH_[A-Z0-9_]+/.exec(p.message)[0]));
      assert.deepEqual([...named].sort(), [...expected].sort());
      assert.ok(settings(result).some((s) => s.endsWith('d1_databases[DB].database_id')));
      assert.ok(settings(result).some((s) => s.endsWith('kv_namespaces[KV].id')));
    });

    it(`${envName}: passes once every placeholder is filled`, () => {
      const result = checkConfig(inputFor(filledToml(), envName));
      assert.deepEqual(result.problems, [], messages(result));
    });
  }
});

describe('pre-flight refusals', () => {
  it('refuses a deploy without --env, or of the development section', () => {
    for (const envName of [undefined, 'development']) {
      const result = checkConfig({ ...inputFor(filledToml(), 'staging'), envName });
      assert.deepEqual(settings(result), ['--env']);
      assert.match(result.problems[0].message, /--env staging or --env production/);
    }
  });

  it('refuses the all-zero development ids', () => {
    const toml = edit(filledToml(), 'a9e8d7c6-b5a4-4321-9fed-cba987654321', '00000000-0000-0000-0000-000000000000');
    const result = checkConfig(inputFor(toml, 'production'));
    assert.deepEqual(settings(result), ['env.production.d1_databases[DB].database_id']);
    assert.match(result.problems[0].message, /all-zero local-development placeholder/);
  });

  it('refuses ids that are not ids (a database name pasted as its id)', () => {
    const toml = edit(filledToml(), '0123456789abcdef0123456789abcdef', 'edge-auth-staging');
    const result = checkConfig(inputFor(toml, 'staging'));
    assert.deepEqual(settings(result), ['env.staging.kv_namespaces[KV].id']);
    assert.match(result.problems[0].message, /not a KV namespace id/);
  });

  it('refuses staging sharing a resource with production', () => {
    const toml = edit(filledToml(), 'id = "0123456789abcdef0123456789abcdef"', 'id = "fedcba9876543210fedcba9876543210"');
    const result = checkConfig(inputFor(toml, 'staging'));
    assert.deepEqual(settings(result), ['env.staging.kv_namespaces[KV].id']);
    assert.match(result.problems[0].message, /also env\.production\.kv_namespaces\[KV\]\.id: each environment needs its own/);
  });

  it('refuses staging sharing a rate-limit namespace with production (counters would mix)', () => {
    const toml = edit(filledToml(), 'namespace_id = "7101"', 'namespace_id = "7201"');
    const result = checkConfig(inputFor(toml, 'staging'));
    assert.deepEqual(settings(result), ['env.staging.ratelimits[RL_LOGIN_IP].namespace_id']);
    assert.match(result.problems[0].message, /"7201" is also env\.production\.ratelimits\[RL_LOGIN_IP\]\.namespace_id/);
  });

  describe("the gateway's table, as the Worker parses it", () => {
    /** The filled wrangler.toml with production's GATEWAY_ROUTES set to `routes` (TOML inline tables). */
    const withRoutes = (routes) => {
      const toml = filledToml();
      const at = toml.lastIndexOf('GATEWAY_ROUTES = []');
      return `${toml.slice(0, at)}GATEWAY_ROUTES = ${routes}${toml.slice(at + 'GATEWAY_ROUTES = []'.length)}`;
    };

    it('passes a valid https route that reaches the Worker', () => {
      const result = checkConfig(inputFor(withRoutes('[{ path = "/app-api/*", upstream = "https://origin.example.com", roles = ["user"] }]'), 'production'));
      assert.deepEqual(result.problems, [], messages(result));
    });

    it('refuses what the Worker would refuse, naming the entry: http:// outside development, a missing service binding', () => {
      let result = checkConfig(inputFor(withRoutes('[{ path = "/app-api/*", upstream = "http://origin.example.com" }]'), 'production'));
      assert.deepEqual(settings(result), ['env.production.vars.GATEWAY_ROUTES[0].upstream']);
      assert.match(result.problems[0].message, /Worker would refuse to serve: .*http:\/\/ is allowed only when ENVIRONMENT=development/);
      result = checkConfig(inputFor(withRoutes('[{ path = "/app-api/*", upstream = "service:NOTES" }]'), 'production'));
      assert.deepEqual(settings(result), ['env.production.vars.GATEWAY_ROUTES[0].upstream']);
      assert.match(result.problems[0].message, /no service binding NOTES/);
    });

    it('refuses a route the asset server would answer (not in run_worker_first)', () => {
      const result = checkConfig(inputFor(withRoutes('[{ path = "/app-api/*", upstream = "https://origin.example.com" }, { path = "/billing/*", upstream = "https://billing.example.com" }]'), 'production'));
      assert.deepEqual(settings(result), ['env.production.vars.GATEWAY_ROUTES[1].path']);
      assert.match(result.problems[0].message, /"\/billing\/\*" is not covered by env\.production\.assets\.run_worker_first: .*\(add "\/billing" and "\/billing\/\*"\)/);
    });

    it('refuses a wildcard route whose bare prefix is not listed ("/x/*" in run_worker_first does not match "/x")', () => {
      const toml = edit(withRoutes('[{ path = "/app-api/*", upstream = "https://origin.example.com" }]'), '"/app-api", "/app-api/*"', '"/app-api/*"');
      const result = checkConfig(inputFor(toml, 'production'));
      assert.deepEqual(settings(result), ['env.production.vars.GATEWAY_ROUTES[0].path']);
      assert.match(result.problems[0].message, /\(add "\/app-api"\)$/);
    });

    it('refuses a route that a "!" exclusion in run_worker_first takes partly back to the assets', () => {
      const route = '[{ path = "/app-api/*", upstream = "https://origin.example.com" }]';
      for (const [exclusion, shown] of [
        ['"!/app-api/static/*"', '"!/app-api/static/*"'],
        ['"!/*.js"', '"!/*.js"'],
        ['"!/app-api"', '"!/app-api"'],
      ]) {
        const toml = edit(withRoutes(route), '"/app-api", "/app-api/*"', `"/app-api", "/app-api/*", ${exclusion}`);
        const result = checkConfig(inputFor(toml, 'production'));
        assert.deepEqual(settings(result), ['env.production.vars.GATEWAY_ROUTES[0].path'], `${exclusion}: ${messages(result)}`);
        assert.ok(result.problems[0].message.includes(`is partly excluded by env.production.assets.run_worker_first ${shown}`), result.problems[0].message);
      }
      // An exclusion elsewhere leaves the route alone.
      const toml = edit(withRoutes(route), '"/app-api", "/app-api/*"', '"/app-api", "/app-api/*", "!/app-apix/*", "!/images/*"');
      assert.deepEqual(checkConfig(inputFor(toml, 'production')).problems, []);
    });
  });

  it('refuses an environment that lacks a binding (bindings are not inherited)', () => {
    const toml = edit(
      filledToml(),
      '[[env.production.kv_namespaces]]\nbinding = "KV"',
      '[[env.production.kv_namespaces]]\nbinding = "SOMETHING_ELSE"',
    );
    const result = checkConfig(inputFor(toml, 'production'));
    assert.deepEqual(settings(result), ['env.production.kv_namespaces']);
    assert.match(result.problems[0].message, /has no KV binding: bindings are not inherited/);
  });

  it('refuses an environment without the send_email binding (account mail, docs/email.md)', () => {
    const toml = edit(filledToml(), '[[env.production.send_email]]\nname = "EMAIL"', '[[env.production.send_email]]\nname = "MAIL"');
    const result = checkConfig(inputFor(toml, 'production'));
    assert.deepEqual(settings(result), ['env.production.send_email']);
    assert.match(result.problems[0].message, /has no EMAIL binding: bindings are not inherited/);
  });

  it('refuses an environment missing a rate-limit binding the top level has', () => {
    const toml = edit(filledToml(), '[dev]\n', '[[ratelimits]]\nname = "TEST_ONLY_RL"\nnamespace_id = "9001"\nsimple = { limit = 5, period = 60 }\n\n[dev]\n');
    const result = checkConfig(inputFor(toml, 'staging'));
    assert.deepEqual(settings(result), ['env.staging.ratelimits']);
    assert.match(result.problems[0].message, /has no TEST_ONLY_RL binding/);
  });

  it('refuses a quota tier whose per-minute binding is missing or allows another limit (USAGE_QUOTAS)', () => {
    // The production section is the last one in the file.
    const withQuotas = (quotas) => {
      const toml = filledToml();
      const at = toml.lastIndexOf('USAGE_QUOTAS = ""');
      return `${toml.slice(0, at)}USAGE_QUOTAS = ${quotas}${toml.slice(at + 'USAGE_QUOTAS = ""'.length)}`;
    };
    const good = checkConfig(inputFor(withQuotas('{ tiers = { standard = { per_minute = 600, binding = "RL_QUOTA_STANDARD", per_day = 1000 } }, default = "standard" }'), 'production'));
    assert.deepEqual(good.problems, [], messages(good));
    const missing = checkConfig(inputFor(withQuotas('{ tiers = { gold = { per_minute = 600, binding = "RL_QUOTA_GOLD" } }, default = "gold" }'), 'production'));
    assert.deepEqual(settings(missing), ['env.production.vars.USAGE_QUOTAS.tiers.gold.binding']);
    const wrong = checkConfig(inputFor(withQuotas('{ tiers = { standard = { per_minute = 100, binding = "RL_QUOTA_STANDARD" } } }'), 'production'));
    assert.deepEqual(settings(wrong), ['env.production.vars.USAGE_QUOTAS.tiers.standard.per_minute']);
    const bad = checkConfig(inputFor(withQuotas('{ tiers = { standard = { per_day = 0 } } }'), 'production'));
    assert.deepEqual(settings(bad), ['env.production.vars.USAGE_QUOTAS.tiers.standard.per_day']);
  });

  it('refuses ENVIRONMENT that does not match --env', () => {
    const toml = edit(filledToml(), 'ENVIRONMENT = "production"', 'ENVIRONMENT = "development"');
    const result = checkConfig(inputFor(toml, 'production'));
    assert.deepEqual(settings(result), ['env.production.vars.ENVIRONMENT']);
    assert.match(result.problems[0].message, /must be "production" \(it is "development"\)/);
  });

  it("runs the Worker's own rules on the vars: an http:// issuer", () => {
    const toml = edit(filledToml(), 'JWT_ISSUER = "https://auth.example.com"', 'JWT_ISSUER = "http://auth.example.com"');
    const result = checkConfig(inputFor(toml, 'production'));
    assert.deepEqual(settings(result), ['env.production.vars.JWT_ISSUER']);
    assert.match(result.problems[0].message, /would refuse to serve: JWT_ISSUER: must be an https:\/\/ URL/);
  });

  it("runs the Worker's own rules on the vars: wildcard origins with cookie mode", () => {
    const anchor = 'An SPA elsewhere on the same site: "https://app.example.com".\nALLOWED_ORIGINS = ""';
    const toml = edit(filledToml(), anchor, anchor.replace('ALLOWED_ORIGINS = ""', 'ALLOWED_ORIGINS = "https://*.example.com"'));
    const result = checkConfig(inputFor(toml, 'production'));
    assert.deepEqual(settings(result), ['env.production.vars.ALLOWED_ORIGINS']);
    assert.match(result.problems[0].message, /wildcards are not allowed/);
  });

  it('refuses an issuer this Worker does not serve', () => {
    const toml = edit(filledToml(), 'JWT_ISSUER = "https://auth.example.com"', 'JWT_ISSUER = "https://login.example.com"');
    const result = checkConfig(inputFor(toml, 'production'));
    assert.deepEqual(settings(result), ['env.production.vars.JWT_ISSUER']);
    assert.match(result.problems[0].message, /host login\.example\.com is not served by this Worker/);
  });

  it('accepts a staging issuer on its own workers.dev name only', () => {
    const wrongName = edit(filledToml(), 'https://edge-auth-staging.acme.workers.dev', 'https://other-worker.acme.workers.dev');
    assert.deepEqual(settings(checkConfig(inputFor(wrongName, 'staging'))), ['env.staging.vars.JWT_ISSUER']);
  });
});

describe('secrets pre-flight', () => {
  const staging = () => inputFor(filledToml(), 'staging').config;

  it('refuses a Worker without KEY_ENCRYPTION_KEY, with the command that fixes it', () => {
    const result = checkSecrets({ envName: 'staging', config: staging(), secretNames: ['JWT_SECRET'] });
    assert.deepEqual(settings(result), ['KEY_ENCRYPTION_KEY']);
    assert.match(result.problems[0].message, /openssl rand -base64 48 \| npx wrangler secret put KEY_ENCRYPTION_KEY --env staging/);
  });

  it('passes with KEY_ENCRYPTION_KEY (JWT_SECRET is optional)', () => {
    const result = checkSecrets({ envName: 'staging', config: staging(), secretNames: ['KEY_ENCRYPTION_KEY'] });
    assert.deepEqual(result, { problems: [], warnings: [] });
  });

  it('reads `wrangler secret list` JSON, with or without text around it', () => {
    const json = JSON.stringify([{ name: 'KEY_ENCRYPTION_KEY', type: 'secret_text' }, { name: 'JWT_SECRET', type: 'secret_text' }]);
    assert.deepEqual(parseSecretList(json), ['KEY_ENCRYPTION_KEY', 'JWT_SECRET']);
    assert.deepEqual(parseSecretList(`\n ⛅️ wrangler\n${json}\n`), ['KEY_ENCRYPTION_KEY', 'JWT_SECRET']);
    assert.deepEqual(parseSecretList('[]'), []);
    assert.throws(() => parseSecretList('Not logged in.'), /no JSON list/);
  });
});
