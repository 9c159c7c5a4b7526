#!/usr/bin/env node
// Checks that every test a document cites exists: `path/to/file` › "name", "other name" means the
// file exists and each name (each part of "describe › test") is a string in it. Run in CI
// (npm run test:docs), so a renamed or deleted test cannot leave docs/security.md claiming a
// defence is tested when it no longer is.
//
//   node scripts/check-doc-tests.mjs [doc ...]   (default: docs/security.md docs/resilience.md)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const docs = process.argv.slice(2).length ? process.argv.slice(2) : ['docs/security.md', 'docs/resilience.md'];

// A citation: a backticked test file, "›", then one or more quoted names separated by commas.
const CITATION = /`([\w./-]+\.(?:test\.(?:ts|mjs)|mjs|ts))`\s*›\s*((?:"[^"]+"(?:\s*\([^)]*\))?\s*,?\s*)+)/g;
const NAME = /"([^"]+)"/g;

/** The names as they appear in source: `%s` placeholders of describe.each stay literal. */
function parts(name) {
  // A name may be wrapped over lines in the Markdown source.
  return name.replace(/\s+/g, ' ').split(' › ').map((p) => p.trim());
}

let checked = 0;
const missing = [];
for (const doc of docs) {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  for (const match of text.matchAll(CITATION)) {
    const [, file, names] = match;
    const path = join(ROOT, file);
    if (!existsSync(path)) {
      missing.push(`${doc}: ${file} does not exist`);
      continue;
    }
    const source = readFileSync(path, 'utf8');
    for (const [, name] of names.matchAll(NAME)) {
      checked++;
      for (const part of parts(name)) {
        // Test names are written in single quotes, double quotes or backticks; the text must match.
        if (!source.includes(part)) missing.push(`${doc}: ${file} has no test or describe named "${part}"`);
      }
    }
  }
}

if (checked === 0) {
  console.error('check-doc-tests: no citations found; has the citation format changed?');
  process.exit(1);
}
for (const m of missing) console.error(`✘ ${m}`);
console.log(`check-doc-tests: ${checked} cited tests in ${docs.join(', ')}, ${missing.length} missing`);
process.exit(missing.length ? 1 : 0);
