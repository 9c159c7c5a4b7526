// Types of test-node/harness.mjs for the TypeScript suites that use it (scripts/user-create.test.ts).
export const ROOT: string;

export interface ServerOptions {
  cwd?: string;
  persist?: string;
  vars?: Record<string, string>;
  varsFor?: (port: number) => Record<string, string>;
  logFile?: string;
  startTimeoutMs?: number;
  args?: string[];
}

export interface Server {
  base: string;
  port: number;
  persist: string;
  output(): string;
  running(): boolean;
  stop(): Promise<void>;
}

export function startServer(options?: ServerOptions): Promise<Server>;
export function waitFor<T>(check: () => Promise<T> | T, options?: { ms?: number; every?: number; what?: string }): Promise<T>;
