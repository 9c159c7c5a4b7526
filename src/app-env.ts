import type { Config, Env } from './config';
import type { SubjectType } from './services/authenticate';

export interface AuthContext {
  /** Who the credential stands for: a user's session, a user's API key, or an OAuth client. */
  subject: SubjectType;
  /** The user id (users and their API keys) or the client_id. */
  userId: string;
  /** The username, or the client's name. */
  username: string;
  /** The session id, the API key id, or the client token's id. */
  sessionId: string;
  jti: string;
  roles: string[];
  exp: number;
  /** RFC 8176 methods and time of a user's sign-in (access tokens of user sessions only). */
  amr?: string[];
  authTime?: number;
  /** How the credential arrived: cookie-authenticated requests need CSRF defence. */
  via: 'bearer' | 'cookie' | 'api_key';
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    /** The clock, in Unix seconds (injected, so tests control time). */
    now: () => number;
    requestId: string;
    auth: AuthContext;
    /** The GATEWAY_ROUTES pattern a proxied request matched (src/gateway); unset otherwise. */
    gatewayRoute?: string;
    /** The request body bytes a proxied request has sent upstream so far (usage metering). */
    gatewayBytesIn?: { readonly bytes: number };
    /** RateLimit-Policy / RateLimit of the caller's quota tier, set on the response (src/usage/quotas.ts). */
    quotaHeaders?: [string, string][];
  };
}
