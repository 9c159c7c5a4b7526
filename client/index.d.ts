// Types of index.js. The API's own types are generated (schema.d.ts); these describe the wrapper.
import type { Client } from 'openapi-fetch';
import type { AuthClient, AuthClientOptions } from './auth-client.js';
import type { paths } from './schema.js';

export type { components, operations, paths } from './schema.js';
export { AuthApiError, createAuthClient } from './auth-client.js';
export type { AuthClient, AuthClientOptions, AuthEvent, User } from './auth-client.js';

/** The typed API: `api.GET('/auth/me')`, `api.POST('/auth/login', { body })`, ... */
export type EdgeAuthApi = Client<paths>;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
}

/** Where bearer mode keeps its tokens (memory by default; a secure store in a native app). */
export interface TokenStore {
  get(): TokenPair | null;
  set(tokens: TokenPair | null): void;
}

export interface BearerSession {
  fetch: typeof fetch;
  refresh(): Promise<boolean>;
  tokens(): TokenPair | null;
  forget(): void;
}

export interface EdgeAuthClientOptions extends AuthClientOptions {
  /** The service's origin (required outside a browser page of the same origin). */
  baseUrl?: string;
  /** cookie: a same-site SPA (default in a browser); bearer: tokens in memory (default elsewhere). */
  mode?: 'cookie' | 'bearer';
  /** Bearer mode: the fetch to send with (globalThis.fetch by default). */
  fetch?: typeof fetch;
  /** Bearer mode: where the tokens live. */
  tokens?: TokenStore;
  timeoutMs?: number;
}

export type EdgeAuthClient =
  | { mode: 'cookie'; api: EdgeAuthApi; auth: AuthClient; session: undefined }
  | { mode: 'bearer'; api: EdgeAuthApi; auth: undefined; session: BearerSession };

export function createEdgeAuthClient(options: EdgeAuthClientOptions & { mode: 'cookie' }): Extract<EdgeAuthClient, { mode: 'cookie' }>;
export function createEdgeAuthClient(options: EdgeAuthClientOptions & { mode: 'bearer' }): Extract<EdgeAuthClient, { mode: 'bearer' }>;
export function createEdgeAuthClient(options?: EdgeAuthClientOptions): EdgeAuthClient;
export function memoryTokenStore(): TokenStore;
export function createBearerSession(options: { baseUrl: string; fetch: typeof fetch; store: TokenStore; timeoutMs: number }): BearerSession;
