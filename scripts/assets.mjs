#!/usr/bin/env node
// Static assets taken from npm and from client/ at install and build time (never from a CDN, and
// never committed twice): run by `npm install` (prepare), `npm run dev`, the test harness, the
// build and the deploy. Idempotent and quick.
//   public/docs/vendor/       Swagger UI (swagger-ui-dist), the /docs reference page's renderer
//   public/js/vendor/openapi-fetch.mjs
//   public/js/edge-auth-client.js, edge-auth-api.js   the client package (client/) for the demo SPA,
//                              its bare `openapi-fetch` import pointed at the vendored copy
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

/** Writes only when the content changed, so wrangler dev's watcher is not woken for nothing. */
function put(target, content) {
  const file = path.join(root, target);
  mkdirSync(path.dirname(file), { recursive: true });
  let current;
  try {
    current = readFileSync(file);
  } catch {
    current = undefined;
  }
  if (current && Buffer.compare(current, Buffer.from(content)) === 0) return;
  writeFileSync(file, content);
}

/** Places every copied asset; throws when a source moved. */
export function prepareAssets() {
  const swaggerDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  for (const name of ['swagger-ui-bundle.js', 'swagger-ui.css']) put(`public/docs/vendor/${name}`, readFileSync(path.join(swaggerDir, name)));
  put('public/docs/vendor/LICENSE', readFileSync(path.join(swaggerDir, 'LICENSE')));

  const openapiFetch = path.join(path.dirname(require.resolve('openapi-fetch/package.json')), 'dist/index.mjs');
  put('public/js/vendor/openapi-fetch.mjs', readFileSync(openapiFetch));
  // Its types beside it, as for qrcode.mjs, so `tsc -p e2e` checks the SPA against them, not the JS.
  put('public/js/vendor/openapi-fetch.d.mts', readFileSync(openapiFetch.replace(/\.mjs$/, '.d.mts')));

  const generated = '// Copied from client/ by scripts/assets.mjs: edit the original there.\n';
  put('public/js/edge-auth-client.js', generated + readFileSync(path.join(root, 'client/auth-client.js'), 'utf8'));
  put('public/js/edge-auth-client.d.ts', generated + readFileSync(path.join(root, 'client/auth-client.d.ts'), 'utf8'));
  const api = readFileSync(path.join(root, 'client/index.js'), 'utf8')
    .replace("from 'openapi-fetch';", "from './vendor/openapi-fetch.mjs';")
    .replaceAll("'./auth-client.js'", "'./edge-auth-client.js'");
  if (!api.includes('./vendor/openapi-fetch.mjs')) throw new Error('assets: client/index.js no longer imports openapi-fetch as expected');
  put('public/js/edge-auth-api.js', generated + api);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) prepareAssets();
