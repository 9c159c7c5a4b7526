/// <reference types="vite/client" />
// The header rules of public/_headers, by path block (Workers Static Assets applies every block
// whose pattern matches; `/*` is the one every asset gets).
import assetHeaders from '../public/_headers?raw';

export { assetHeaders };

/** The rules of the block for `pattern` (e.g. "/*", "/openapi.json"), lower-cased names. */
export function headerRules(pattern: string): Map<string, string> {
  const found = new Map<string, string>();
  let inside = false;
  for (const line of assetHeaders.split('\n')) {
    if (/^\S/.test(line) && !line.startsWith('#')) inside = line.trim() === pattern;
    const m = /^\s+([A-Za-z-]+):\s*(.+)$/.exec(line);
    if (inside && m) found.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  return found;
}
