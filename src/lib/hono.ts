// The Hono class every module builds its routes with: hono's base with TrieRouter as its only
// router. `import { Hono } from 'hono'` is the SmartRouter preset, which bundles RegExpRouter too
// even when the app passes a TrieRouter (src/app.ts says why TrieRouter); this keeps the bundle
// from carrying a router it never uses (bench/budget.json).
import { HonoBase, type HonoOptions } from 'hono/hono-base';
import { TrieRouter } from 'hono/router/trie-router';
import type { BlankEnv, BlankSchema, Env, Schema } from 'hono/types';

export class Hono<E extends Env = BlankEnv, S extends Schema = BlankSchema, BasePath extends string = '/'> extends HonoBase<E, S, BasePath> {
  constructor(options: HonoOptions<E> = {}) {
    super(options);
    this.router = options.router ?? new TrieRouter();
  }
}
