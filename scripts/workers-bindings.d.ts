// The scripts import a few pure modules of src/ whose files also mention Worker binding types.
// Node code never calls a binding: the subset those files use is enough for the type checker.
interface D1Database {}
interface KVNamespace<Key extends string = string> {
  get(key: Key): Promise<string | null>;
  put(key: Key, value: string, options?: { expirationTtl?: number }): Promise<void>;
}
