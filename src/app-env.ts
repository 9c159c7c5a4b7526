import type { Config, Env } from './config';

export interface AuthContext {
  userId: string;
  username: string;
  sessionId: string;
  jti: string;
  roles: string[];
  exp: number;
  /** How the access token arrived: cookie-authenticated requests need CSRF defence. */
  via: 'bearer' | 'cookie';
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    /** The clock, in Unix seconds (injected, so tests control time). */
    now: () => number;
    requestId: string;
    auth: AuthContext;
  };
}
