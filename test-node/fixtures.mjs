// Shared by the node tests: the committed wrangler.toml, filled in the way docs/deploy.md tells a
// deployer to, and wrangler's own reading of it (unstable_readConfig resolves environments).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unstable_readConfig } from 'wrangler';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const COMMITTED_TOML = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');

/** What a deployer writes over each placeholder (ids in the shape Cloudflare prints them). */
export const FILLED = {
  REPLACE_WITH_WORKERS_SUBDOMAIN: 'acme',
  REPLACE_WITH_STAGING_D1_DATABASE_ID: '6f1c2a4e-1b2c-4d5e-8f90-123456789abc',
  REPLACE_WITH_STAGING_KV_NAMESPACE_ID: '0123456789abcdef0123456789abcdef',
  REPLACE_WITH_AUTH_HOSTNAME: 'auth.example.com',
  REPLACE_WITH_PRODUCTION_D1_DATABASE_ID: 'a9e8d7c6-b5a4-4321-9fed-cba987654321',
  REPLACE_WITH_PRODUCTION_KV_NAMESPACE_ID: 'fedcba9876543210fedcba9876543210',
};

/** The committed file with every placeholder filled; throws if one is left that FILLED lacks. */
export function filledToml(toml = COMMITTED_TOML) {
  let out = toml;
  for (const [placeholder, value] of Object.entries(FILLED)) out = out.replaceAll(placeholder, value);
  const left = out.match(/REPLACE_WITH_[A-Z0-9_]+/g);
  if (left) throw new Error(`wrangler.toml has placeholders test-node/fixtures.mjs does not fill: ${[...new Set(left)].join(', ')}`);
  return out;
}

/** `text.replace(from, to)` that fails loudly when the committed file no longer has `from`. */
export function edit(text, from, to) {
  if (!text.includes(from)) throw new Error(`fixture edit: ${JSON.stringify(from)} not found`);
  return text.replace(from, to);
}

export function writeProject(toml) {
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-deploy-'));
  writeFileSync(join(dir, 'wrangler.toml'), toml);
  return dir;
}

/** wrangler's resolved view of `toml` for each environment, as scripts/deploy.mjs reads it. */
export function resolve(toml) {
  const dir = writeProject(toml);
  const read = (env) => unstable_readConfig({ config: join(dir, 'wrangler.toml'), env }, { hideWarnings: true });
  return { dir, topLevel: read(undefined), staging: read('staging'), production: read('production') };
}

export function inputFor(toml, envName) {
  const r = resolve(toml);
  const other = envName === 'staging' ? 'production' : 'staging';
  return { envName, config: r[envName], topLevel: r.topLevel, others: { [other]: r[other] } };
}
