// Test helpers: an app with a controllable clock, real bindings from the vitest pool (local D1/KV),
// and small request builders. Every test uses unique usernames: storage is per file, not per test.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { createApp } from '../src/app';
import { getConfig, type Env } from '../src/config';
import { keyRing } from '../src/tokens/keys';

export const T0 = 1_800_000_000; // a fixed "now" (Unix seconds) for deterministic tests

export class TestClock {
  constructor(public seconds = T0) {}
  advance(seconds: number): void {
    this.seconds += seconds;
  }
  ms = (): number => this.seconds * 1000;
}

export type Alg = 'ES256' | 'HS256';

// String variables only: bindings (DB, KV, the RL_* rate limiters) are replaced by spreading env.
export function testEnv(
  overrides: Partial<Record<Exclude<keyof Env, 'DB' | 'KV' | `RL_${string}` | 'GATEWAY_ROUTES' | 'USAGE_QUOTAS' | 'USAGE_ANALYTICS'>, string>> & { GATEWAY_ROUTES?: unknown; USAGE_QUOTAS?: unknown } = {},
): Env {
  return { ...(env as unknown as Env), ...overrides };
}

let counter = 0;
export function uniqueName(prefix = 'user'): string {
  counter++;
  return `${prefix}${counter}_${Math.random().toString(36).slice(2, 8)}`;
}

/** A random address from the IPv6 documentation prefix (RFC 3849), in its own /64. */
export function randomTestIp(): string {
  const [a, b, c] = crypto.getRandomValues(new Uint16Array(3));
  return `2001:db8:${a!.toString(16)}:${b!.toString(16)}::${c!.toString(16)}`;
}

export interface RequestOptions {
  json?: unknown;
  body?: string;
  token?: string;
  headers?: Record<string, string>;
}

export class Client {
  readonly app: ReturnType<typeof createApp>;
  constructor(readonly env: Env, readonly clock = new TestClock()) {
    this.app = createApp({ clock: clock.ms });
  }

  get config() {
    return getConfig(this.env);
  }

  ring() {
    return keyRing(this.env.DB, this.config);
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers = new Headers(options.headers);
    let body: string | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
    }
    if (options.token) headers.set('Authorization', `Bearer ${options.token}`);
    // Each request comes from its own address unless the test names one, so the per-IP throttles
    // (test/rate-limit.test.ts) only trip in tests about them.
    if (!headers.has('CF-Connecting-IP')) headers.set('CF-Connecting-IP', randomTestIp());
    const ctx = createExecutionContext();
    const res = await this.app.fetch(new Request(`http://localhost${path}`, { method, headers, body }), this.env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  async register(username = uniqueName(), password = 'correct horse battery'): Promise<{ username: string; password: string; id: string }> {
    const res = await this.request('POST', '/auth/register', { json: { username, password } });
    if (res.status !== 201) throw new Error(`register failed: ${res.status} ${await res.text()}`);
    const { user } = (await res.json()) as { user: { id: string } };
    return { username, password, id: user.id };
  }

  async login(username: string, password: string): Promise<TokenBody> {
    const res = await this.request('POST', '/auth/login', { json: { username, password } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as TokenBody;
  }

  async signedUp(): Promise<TokenBody & { username: string; password: string; id: string }> {
    const user = await this.register();
    return { ...user, ...(await this.login(user.username, user.password)) };
  }
}

export interface TokenBody {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  refresh_expires_in: number;
  user: { id: string; username: string; email: string | null; roles: string[]; created_at: number };
}

export async function errorOf(res: Response): Promise<{ error: string; message: string }> {
  return (await res.json()) as { error: string; message: string };
}

/**
 * The local limiter counts in fixed windows aligned to the wall clock: a burst that straddles a
 * window edge sees its count reset half-way. Rather than wait for a window to turn, run the burst
 * (with fresh keys each time) and, only if an edge passed while it ran, run it once more: it then
 * starts just after an edge, with the whole window ahead of it.
 */
export async function inOneWindow(period: number, burst: () => Promise<void>): Promise<void> {
  const windowOf = () => Math.floor(Date.now() / (period * 1000));
  const first = windowOf();
  try {
    await burst();
    if (windowOf() === first) return;
  } catch (err) {
    if (windowOf() === first) throw err;
  }
  await burst();
}
