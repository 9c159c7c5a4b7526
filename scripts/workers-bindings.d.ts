// The scripts import a few pure modules of src/ whose files also mention Worker binding types.
// Node code never calls a binding: the subset those files use is enough for the type checker.
interface D1Result<T> {
  results: T[];
  meta: { changes?: number };
}
interface D1PreparedStatement {
  bind(...values: unknown[]): D1PreparedStatement;
  run(): Promise<D1Result<unknown>>;
  all<T = unknown>(): Promise<D1Result<T>>;
}
interface D1Database {
  prepare(sql: string): D1PreparedStatement;
  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
  // src/db/replica.ts (reached through tokens/keys.ts) asks for a read-replica session.
  withSession(constraintOrBookmark?: string): unknown;
}
interface KVNamespace<Key extends string = string> {
  get(key: Key): Promise<string | null>;
  put(key: Key, value: string, options?: { expirationTtl?: number }): Promise<void>;
}
interface RateLimit {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}
interface SendEmail {
  send(message: { to: string; from: string; subject: string; text?: string; html?: string }): Promise<unknown>;
}
