// Pre-flight checks for `npm run deploy`, as pure functions: they take wrangler's resolved
// configuration (unstable_readConfig) and the names `wrangler secret list` printed, and return
// problems. Nothing here touches the network, so test-node/preflight.test.mjs proves them offline.
// The Worker's own rules on its vars (src/config.ts parseConfig) run here too, on the vars this
// environment would deploy with, so a deploy never ships a Worker that will only answer 500.
import { randomBytes } from 'node:crypto';
import { ConfigError, parseConfig, PLACEHOLDER_MARK } from '../src/config.ts';
import { parseRouteTable, VARIABLE as GATEWAY_VARIABLE } from '../src/gateway/route-table.ts';
import { runWorkerFirst } from './lib/run-worker-first.mjs';

export const DEPLOY_ENVIRONMENTS = ['staging', 'production'];
/** Secrets the Worker cannot start without. JWT_SECRET is optional: without it, keys live in D1. */
export const REQUIRED_SECRETS = ['KEY_ENCRYPTION_KEY'];
/** Bindings a wrangler environment does not inherit, and the field that names each one. */
export const NON_INHERITED_BINDINGS = [
  ['d1_databases', 'binding'],
  ['kv_namespaces', 'binding'],
  ['ratelimits', 'name'],
  ['services', 'binding'],
  ['r2_buckets', 'binding'],
  ['queues.producers', 'binding'],
  ['analytics_engine_datasets', 'binding'],
  ['send_email', 'name'],
];
/** The Worker reads these; an environment without them can only answer 500. */
export const REQUIRED_BINDINGS = { d1_databases: ['DB'], kv_namespaces: ['KV'], send_email: ['EMAIL'] };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX32 = /^[0-9a-f]{32}$/i;
const ALL_ZERO = /^[0-]+$/;

/** `queues.producers` -> config.queues.producers, always an array. */
function list(config, path) {
  let value = config;
  for (const part of path.split('.')) value = value?.[part];
  return Array.isArray(value) ? value : [];
}

function problem(setting, message) {
  return { setting, message };
}

/** Every string in the parts of the config a deploy uses, with a readable path to it. */
function* strings(config, envName) {
  const prefix = `env.${envName}`;
  for (const [key, value] of Object.entries(config.vars ?? {})) {
    if (typeof value === 'string') yield [`${prefix}.vars.${key}`, value];
  }
  for (const [kind, nameField] of NON_INHERITED_BINDINGS) {
    for (const binding of list(config, kind)) {
      for (const [key, value] of Object.entries(binding)) {
        if (typeof value === 'string') yield [`${prefix}.${kind}[${binding[nameField]}].${key}`, value];
      }
    }
  }
  for (const [i, route] of (config.routes ?? []).entries()) {
    yield [`${prefix}.routes[${i}]`, typeof route === 'string' ? route : (route.pattern ?? '')];
  }
}

function resourceIds(config) {
  const ids = [];
  for (const db of list(config, 'd1_databases')) {
    ids.push([`d1_databases[${db.binding}].database_id`, db.database_id]);
    ids.push([`d1_databases[${db.binding}].database_name`, db.database_name]);
  }
  for (const kv of list(config, 'kv_namespaces')) ids.push([`kv_namespaces[${kv.binding}].id`, kv.id]);
  for (const rl of list(config, 'ratelimits')) ids.push([`ratelimits[${rl.name}].namespace_id`, rl.namespace_id]);
  return ids.filter(([, id]) => typeof id === 'string' && id !== '');
}

function routeHosts(config) {
  return (config.routes ?? []).map((route) => {
    const pattern = typeof route === 'string' ? route : route.pattern;
    return String(pattern ?? '').replace(/^https?:\/\//, '').split('/')[0].toLowerCase();
  });
}

function hostMatches(pattern, host) {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(host);
}

/** Random stand-ins for the secrets, so parseConfig judges the vars alone. */
function standInSecrets() {
  return { KEY_ENCRYPTION_KEY: randomBytes(48).toString('base64url') };
}

/**
 * Offline checks of one environment's resolved configuration.
 * @param {object} input
 * @param {string | undefined} input.envName     the --env given
 * @param {object} input.config                  unstable_readConfig({ env: envName })
 * @param {object} input.topLevel                unstable_readConfig({}) (the development section)
 * @param {Record<string, object>} input.others  the other deploy environments, resolved
 * @returns {{ problems: {setting: string, message: string}[], warnings: string[] }}
 */
export function checkConfig({ envName, config, topLevel, others = {} }) {
  const problems = [];
  const warnings = [];
  if (!DEPLOY_ENVIRONMENTS.includes(envName)) {
    problems.push(problem('--env', `choose where to deploy: --env ${DEPLOY_ENVIRONMENTS.join(' or --env ')} (the top level of wrangler.toml is local development and is never deployed)`));
    return { problems, warnings };
  }
  const prefix = `env.${envName}`;

  for (const [path, value] of strings(config, envName)) {
    if (value.includes(PLACEHOLDER_MARK)) problems.push(problem(path, `still reads "${value}": replace it (docs/deploy.md)`));
  }

  for (const [kind, nameField] of NON_INHERITED_BINDINGS) {
    const here = new Set(list(config, kind).map((b) => b[nameField]));
    const wanted = new Set([...list(topLevel, kind).map((b) => b[nameField]), ...(REQUIRED_BINDINGS[kind] ?? [])]);
    for (const name of wanted) {
      if (!here.has(name)) {
        problems.push(problem(`${prefix}.${kind}`, `has no ${name} binding: bindings are not inherited, add [[${prefix}.${kind}]] ${nameField} = "${name}" with this environment's own resource`));
      }
    }
  }

  for (const db of list(config, 'd1_databases')) {
    const id = db.database_id ?? '';
    if (id.includes(PLACEHOLDER_MARK)) continue;
    if (ALL_ZERO.test(id)) problems.push(problem(`${prefix}.d1_databases[${db.binding}].database_id`, 'is the all-zero local-development placeholder: use the id `wrangler d1 create` printed'));
    else if (!UUID.test(id)) problems.push(problem(`${prefix}.d1_databases[${db.binding}].database_id`, `"${id}" is not a D1 database id (a UUID, printed by \`wrangler d1 create\`)`));
  }
  for (const kv of list(config, 'kv_namespaces')) {
    const id = kv.id ?? '';
    if (id.includes(PLACEHOLDER_MARK)) continue;
    if (ALL_ZERO.test(id)) problems.push(problem(`${prefix}.kv_namespaces[${kv.binding}].id`, 'is the all-zero local-development placeholder: use the id `wrangler kv namespace create` printed'));
    else if (!HEX32.test(id)) problems.push(problem(`${prefix}.kv_namespaces[${kv.binding}].id`, `"${id}" is not a KV namespace id (32 hex characters)`));
  }
  for (const rl of list(config, 'ratelimits')) {
    const id = String(rl.namespace_id ?? '');
    if (!id.includes(PLACEHOLDER_MARK) && !/^[1-9]\d*$/.test(id)) {
      problems.push(problem(`${prefix}.ratelimits[${rl.name}].namespace_id`, `"${id}" must be a positive integer, unique in your account`));
    }
  }

  // Staging must never reach production data: no resource may be shared between environments.
  const mine = resourceIds(config);
  for (const [otherName, other] of Object.entries(others)) {
    const theirs = new Map(resourceIds(other).map(([path, id]) => [id, path]));
    for (const [path, id] of mine) {
      if (!id.includes(PLACEHOLDER_MARK) && theirs.has(id)) {
        problems.push(problem(`${prefix}.${path}`, `"${id}" is also env.${otherName}.${theirs.get(id)}: each environment needs its own resource`));
      }
    }
  }

  const vars = config.vars ?? {};
  if (vars.ENVIRONMENT !== envName) {
    problems.push(problem(`${prefix}.vars.ENVIRONMENT`, `must be "${envName}" (it is ${vars.ENVIRONMENT === undefined ? 'unset' : `"${vars.ENVIRONMENT}"`})`));
  }

  const varsHavePlaceholders = Object.values(vars).some((v) => typeof v === 'string' && v.includes(PLACEHOLDER_MARK));
  if (!varsHavePlaceholders) {
    let parsed;
    try {
      parsed = parseConfig({ ...vars, ...standInSecrets() });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(problem(`${prefix}.vars.${err.variable}`, `the Worker would refuse to serve: ${err.message}`));
    }
    // A quota tier's per-minute limit is a [[ratelimits]] binding of this environment, with that limit.
    const limiters = new Map(list(config, 'ratelimits').map((rl) => [rl.name, rl]));
    for (const tier of parsed?.usage.quotas.tiers.values() ?? []) {
      if (!tier.perMinute) continue;
      const rl = limiters.get(tier.perMinute.binding);
      const setting = `${prefix}.vars.USAGE_QUOTAS.tiers.${tier.name}`;
      if (!rl) problems.push(problem(`${setting}.binding`, `names ${tier.perMinute.binding}, which is not a [[${prefix}.ratelimits]] binding: the Worker would refuse to serve`));
      else if (rl.simple?.limit !== tier.perMinute.limit || rl.simple?.period !== 60) {
        problems.push(problem(`${setting}.per_minute`, `is ${tier.perMinute.limit}, but ${tier.perMinute.binding} allows ${rl.simple?.limit} per ${rl.simple?.period} s: the RateLimit-Policy header would be wrong`));
      }
    }

    // The gateway's table, checked by the Worker's own parser: the service bindings it names must be
    // this environment's, and with [assets] every route must reach the Worker (run_worker_first),
    // or the asset server's SPA fallback would answer it: an API silently not proxied.
    if (parsed) {
      const services = Object.fromEntries(list(config, 'services').map((s) => [s.binding, { fetch() {} }]));
      let table = [];
      try {
        table = parseRouteTable({ ...vars, ...services }, parsed);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(problem(`${prefix}.vars.${err.variable}`, `the Worker would refuse to serve: ${err.message}`));
      }
      const first = runWorkerFirst(config.assets?.run_worker_first);
      if (config.assets) {
        table.forEach((route, i) => {
          const setting = `${prefix}.vars.${GATEWAY_VARIABLE}[${i}].path`;
          // A wildcard route takes its prefix itself too, which the asset router's "/x/*" does not match.
          const needed = route.wildcard ? [route.prefix, `${route.prefix}/*`] : [route.prefix];
          const missing = needed.filter((pattern) => !first.included(pattern.endsWith('/*') ? `${route.prefix}/x` : pattern));
          if (missing.length > 0) {
            const add = missing.map((pattern) => `"${pattern}"`).join(' and ');
            problems.push(problem(setting, `"${route.pattern}" is not covered by ${prefix}.assets.run_worker_first: the asset server would answer it instead of the gateway (add ${add})`));
          }
          // An exclusion ("!/x/static/*", "!/*.js") wins over any inclusion: part of the route would miss the gateway.
          const excluded = route.wildcard ? first.excludedUnder(route.prefix) : first.excludedAt(route.prefix);
          if (excluded.length > 0) {
            const which = excluded.map((pattern) => `"${pattern}"`).join(', ');
            problems.push(problem(setting, `"${route.pattern}" is partly excluded by ${prefix}.assets.run_worker_first ${which}: the asset server would answer those paths instead of the gateway`));
          }
        });
      }
    }

    // The issuer is where verifiers fetch the JWKS and where cookie mode lives: this Worker must serve it.
    let issuerHost;
    try {
      issuerHost = new URL(vars.JWT_ISSUER).hostname.toLowerCase();
    } catch {
      issuerHost = undefined; // parseConfig reported it
    }
    if (issuerHost) {
      const onWorkersDev = config.workers_dev !== false && issuerHost.startsWith(`${config.name}.`) && issuerHost.endsWith('.workers.dev');
      const routed = routeHosts(config).some((pattern) => hostMatches(pattern, issuerHost));
      if (!onWorkersDev && !routed) {
        problems.push(problem(`${prefix}.vars.JWT_ISSUER`, `host ${issuerHost} is not served by this Worker: add it to ${prefix}.routes (custom domain) or use https://${config.name}.<subdomain>.workers.dev with workers_dev = true`));
      }
    }
  }

  for (const name of Object.keys(topLevel.vars ?? {})) {
    if (!(name in vars)) warnings.push(`${prefix}.vars has no ${name}: the Worker's default applies (vars are not inherited)`);
  }
  if (!config.limits?.cpu_ms) warnings.push(`${prefix}.limits.cpu_ms is unset: fine on the Paid plan; the Free plan's 10 ms cannot hash a password`);
  if (!config.observability?.enabled) warnings.push('observability is off: auth event logs will not be kept');
  return { problems, warnings };
}

/** The names in `wrangler secret list --format json` output (tolerates text around the JSON). */
export function parseSecretList(stdout) {
  const start = stdout.indexOf('[');
  const end = stdout.lastIndexOf(']');
  if (start < 0 || end < start) throw new Error('no JSON list in `wrangler secret list` output');
  const parsed = JSON.parse(stdout.slice(start, end + 1));
  if (!Array.isArray(parsed)) throw new Error('`wrangler secret list` did not print a list');
  return parsed.map((s) => s?.name).filter((n) => typeof n === 'string');
}

/** Checks on the Worker's secrets, by name (values never leave Cloudflare). */
export function checkSecrets({ envName, config, secretNames }) {
  const problems = [];
  const warnings = [];
  const have = new Set(secretNames);
  for (const name of REQUIRED_SECRETS) {
    if (!have.has(name)) {
      problems.push(problem(name, `is not set on Worker ${config.name}: openssl rand -base64 48 | npx wrangler secret put ${name} --env ${envName}`));
    }
  }
  const alg = config.vars?.JWT_ALG ?? 'ES256';
  if (have.has('JWT_SECRET') && alg !== 'HS256') warnings.push(`JWT_SECRET is set but JWT_ALG is ${alg}: it is unused`);
  if (have.has('JWT_SECRET') && alg === 'HS256') warnings.push('JWT_SECRET is set: HS256 tokens are signed with it and `keys:rotate` cannot rotate it; unset it to use rotatable keys in D1');
  return { problems, warnings };
}

export function formatProblems(problems) {
  return problems.map((p) => `  - ${p.setting}: ${p.message}`).join('\n');
}
