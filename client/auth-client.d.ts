// Types for auth-client.js (cookie mode). Hand-written; keep in step with the JSDoc there.

/** A user as the service returns it: never a hash or secret. */
export interface User {
  id: string;
  username: string;
  email: string | null;
  /** Whether the address was proven by a link sent to it. */
  email_verified: boolean;
  roles: string[];
  created_at: string | number;
}

/** Body of a cookie-mode login or refresh: the tokens themselves travel only in HttpOnly cookies. */
export interface SessionGrant {
  token_type: 'Bearer';
  /** access token lifetime, seconds */
  expires_in: number;
  /** refresh token lifetime, seconds */
  refresh_expires_in: number;
  user: User;
}

/** A correct password when a second factor is enabled: no session yet (POST /auth/mfa/verify). */
export interface MfaChallenge {
  mfa_required: true;
  mfa_token: string;
  methods: ('totp' | 'recovery_code' | 'webauthn')[];
  expires_in: number;
}

export type MfaFactor = { code: string } | { recovery_code: string } | { webauthn: unknown };

/** One entry of GET /auth/sessions. */
export interface SessionInfo {
  id: string;
  created_at: string | number;
  last_used_at: string | number | null;
  user_agent: string | null;
  ip: string | null;
  /** the session this browser is using */
  current: boolean;
}

export type AuthEvent =
  | { type: 'signed-in'; user: User }
  | { type: 'signed-out'; reason: 'logout' | 'logout-all' | 'session-ended' | 'other-tab' }
  | { type: 'refreshed'; by: 'this-tab' | 'other-tab' };

export interface AuthClientOptions {
  /** prefix for string paths; default '' (same origin) */
  baseUrl?: string;
  /** default '__Host-edge_csrf' */
  csrfCookie?: string;
  /** default 'X-CSRF-Token' */
  csrfHeader?: string;
  /** default '/auth/refresh' */
  refreshPath?: string;
  /** Web Lock name shared by all tabs; default 'edge-auth-refresh' */
  lockName?: string;
  /** BroadcastChannel name; default 'edge-auth' */
  channelName?: string;
  /** timeout of the refresh request, ms; default 15000 */
  timeoutMs?: number;
}

/** An error response of the service: `{ error, message }` with its HTTP status. */
export class AuthApiError extends Error {
  constructor(status: number, code: string, message: string);
  status: number;
  /** the `error` field, e.g. 'invalid_credentials', 'username_taken', 'csrf_failed' */
  code: string;
}

export interface AuthClient {
  /**
   * `fetch` for this origin: same-origin credentials, CSRF header on unsafe methods, and on a
   * 401 `invalid_token` (or `unauthorized` while the CSRF cookie exists) one shared refresh and
   * one retry. Bodies must be re-sendable.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** JSON request through `fetch`; throws AuthApiError on an error status; 204 gives undefined. */
  request<T>(path: string, opts?: { method?: string; body?: unknown; retry?: boolean }): Promise<T>;
  /**
   * Refresh now (shared with any refresh in flight). Resolves true when the cookies are fresh,
   * false when the session is over. `since`: a refresh completed after this time is reused;
   * `csrfBefore`: the CSRF cookie at that time (default: now): when another tab's refresh has
   * changed it by the time this tab holds the lock, that refresh is reused.
   */
  refresh(since?: number, csrfBefore?: string | null): Promise<boolean>;
  /** True when the readable CSRF cookie is present (a cookie-mode session probably exists). */
  hasSession(): boolean;
  register(input: { username: string; password: string; email?: string }): Promise<User>;
  login(input: { username: string; password: string }): Promise<SessionGrant | MfaChallenge>;
  verifyMfa(mfaToken: string, factor: MfaFactor): Promise<SessionGrant>;
  passkeyLogin(assert: (options: any) => Promise<unknown>): Promise<SessionGrant>;
  /** The signed-in user, or null when signed out. */
  me(): Promise<User | null>;
  sessions(): Promise<SessionInfo[]>;
  endSession(id: string): Promise<void>;
  logout(): Promise<void>;
  logoutAll(): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(fn: (event: AuthEvent) => void): () => void;
}

export function createAuthClient(options?: AuthClientOptions): AuthClient;

/** Reads a cookie visible to JavaScript (only the CSRF cookie is; token cookies are HttpOnly). */
export function readCookie(name: string): string | null;
