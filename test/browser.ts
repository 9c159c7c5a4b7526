// A cookie jar that behaves as a browser's (paths respected), for the cookie-mode tests.
import { Client, uniqueName } from './helpers';

export const ORIGIN = 'http://localhost'; // the test requests' own origin (same-origin)

export interface Cookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

export function parseSetCookies(res: Response): Map<string, Cookie> {
  const out = new Map<string, Cookie>();
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair!.indexOf('=');
    const attributes: Record<string, string | true> = {};
    for (const a of attrs) {
      const i = a.indexOf('=');
      attributes[(i < 0 ? a : a.slice(0, i)).toLowerCase()] = i < 0 ? true : a.slice(i + 1);
    }
    out.set(pair!.slice(0, eq), { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes });
  }
  return out;
}

/** A cookie jar as a browser would keep it (paths respected for the refresh cookie). */
export class Browser {
  jar = new Map<string, Cookie>();
  constructor(readonly c: Client) {}

  store(res: Response) {
    for (const [name, cookie] of parseSetCookies(res)) {
      if (cookie.attributes['max-age'] === '0') this.jar.delete(name);
      else this.jar.set(name, cookie);
    }
  }

  cookieHeader(path: string): string {
    return [...this.jar.values()]
      .filter((k) => path.startsWith(String(k.attributes.path ?? '/')))
      .map((k) => `${k.name}=${k.value}`)
      .join('; ');
  }

  get csrf(): string {
    return this.jar.get('__Host-edge_csrf')!.value;
  }

  async request(method: string, path: string, options: { json?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...options.headers };
    const cookie = this.cookieHeader(path);
    if (cookie) headers.Cookie = cookie;
    const res = await this.c.request(method, path, { json: options.json, headers });
    this.store(res);
    return res;
  }

  /** An unsafe request as the SPA's client helper sends it. */
  send(method: string, path: string, json?: unknown) {
    return this.request(method, path, { json, headers: { Origin: ORIGIN, 'X-CSRF-Token': this.csrf } });
  }

  async signIn(): Promise<{ username: string; password: string; res: Response }> {
    const { username, password } = await this.c.register(uniqueName('cookie'));
    const res = await this.request('POST', '/auth/login', { json: { username, password, mode: 'cookie' }, headers: { Origin: ORIGIN } });
    return { username, password, res };
  }
}
