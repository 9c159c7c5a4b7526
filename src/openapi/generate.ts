// Build-time entry (bundled and run by scripts/openapi.mjs): the document, and the routes the app
// really serves, so the script can refuse a route without an operation or an operation without a route.
import { createApp } from '../app';
import { buildDocument, OPERATIONS } from './document';

export { buildDocument };

/** `METHOD /path/{param}` of every route the app registers (middleware-only entries left out). */
export function servedRoutes(): string[] {
  const seen = new Set<string>();
  for (const r of createApp().routes) {
    if (r.method === 'ALL') continue;
    seen.add(`${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
  }
  return [...seen].sort();
}

export function documentedRoutes(): string[] {
  return OPERATIONS.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
}
