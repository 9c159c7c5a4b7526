/// <reference types="vite/client" />
// The admin console (public/console/) and the usage chart are static assets beside the demo SPA:
// served by the asset server (not the Worker, which owns /admin/*), under the same headers, and
// written so the strict CSP holds (no inline script or style, nothing from another origin) and no
// data becomes markup (no innerHTML and its relatives).
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { headerRules } from './asset-headers';
import wranglerToml from '../wrangler.toml?raw';

const pages = import.meta.glob<string>('../public/**/*.html', { query: '?raw', import: 'default', eager: true });
const scripts = import.meta.glob<string>(['../public/console/*.js', '../public/js/*.js', '!../public/js/vendor/**'], { query: '?raw', import: 'default', eager: true });

const rules = headerRules('/*');

describe('the admin console as static assets', () => {
  it('is served at /console/ (and its modules) with the SPA\'s security headers', async () => {
    const assets = (env as unknown as { ASSETS: Fetcher }).ASSETS;
    for (const path of ['/console/', '/console/console.js', '/console/dom.js', '/console/console.css', '/js/usage-chart.js', '/js/usage.js']) {
      const res = await assets.fetch(`http://localhost${path}`);
      const body = await res.text();
      expect(res.status, path).toBe(200);
      for (const [name, value] of rules) expect(res.headers.get(name), `${path}: ${name}`).toBe(value);
      if (path === '/console/') expect(body).toContain('admin console');
      if (path.endsWith('.js')) expect(res.headers.get('content-type'), path).toMatch(/javascript/);
    }
  });

  it('/console (no slash) and /console/index.html lead to /console/', async () => {
    const assets = (env as unknown as { ASSETS: Fetcher }).ASSETS;
    for (const path of ['/console', '/console/index.html']) {
      const res = await assets.fetch(`http://localhost${path}`, { redirect: 'manual' });
      await res.arrayBuffer();
      expect([301, 307, 308], path).toContain(res.status);
      expect(new URL(res.headers.get('location') ?? '', 'http://localhost').pathname, path).toBe('/console/');
    }
  });

  it('does not live under a path the Worker takes first', () => {
    const first = /run_worker_first\s*=\s*\[([^\]]*)\]/.exec(wranglerToml)?.[1] ?? '';
    const patterns = [...first.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
    expect(patterns).toContain('/admin/*');
    for (const p of patterns) expect('/console/'.startsWith(p.replace(/\*$/, '')), p).toBe(false);
  });

  it('pages load only their own scripts and styles: nothing inline, nothing from another origin', () => {
    expect(Object.keys(pages)).toEqual(expect.arrayContaining(['../public/index.html', '../public/console/index.html']));
    for (const [file, html] of Object.entries(pages)) {
      expect(html, file).toMatch(/<script\b/);
      for (const tag of html.match(/<script\b[^>]*>/g) ?? []) expect(tag, file).toMatch(/\ssrc="\/[^/]/);
      expect(html, file).not.toMatch(/<style\b/i);
      expect(html, file).not.toMatch(/\sstyle=/i);
      expect(html, file).not.toMatch(/\son[a-z]+=/i);
      expect(html, file).not.toMatch(/(src|href)="(https?:)?\/\//i);
    }
  });

  it('stylesheets close every block (an unclosed one silently drops every rule after it)', async () => {
    // Read as served (vitest turns CSS imports into empty modules).
    const assets = (env as unknown as { ASSETS: Fetcher }).ASSETS;
    for (const file of ['/css/app.css', '/console/console.css']) {
      const css = await (await assets.fetch(`http://localhost${file}`)).text();
      expect(css.length, file).toBeGreaterThan(500);
      let depth = 0;
      for (const ch of css.replace(/\/\*[\s\S]*?\*\//g, '')) {
        if (ch === '{') depth++;
        if (ch === '}') depth--;
        expect(depth, file).toBeGreaterThanOrEqual(0);
        expect(depth, file).toBeLessThanOrEqual(2);
      }
      expect(depth, file).toBe(0);
    }
  });

  it('scripts never turn strings into markup', () => {
    expect(Object.keys(scripts)).toEqual(expect.arrayContaining(['../public/console/console.js', '../public/js/usage-chart.js']));
    for (const [file, js] of Object.entries(scripts)) {
      expect(js, file).toMatch(/@ts-check/);
      expect(js, file).not.toMatch(/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/);
      expect(js, file).not.toMatch(/setAttribute\(\s*['"](style|on[a-z]+)['"]/);
    }
  });
});
