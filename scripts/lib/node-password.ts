// argon2id in Node for the CLI: the same hasher as the Worker (src/crypto/password-hasher.ts), with
// the package's wasm compiled from its bytes, which Node allows (workerd does not; it imports them).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createPasswordHasher } from '../../src/crypto/password-hasher';

const require = createRequire(import.meta.url);
const compile = (specifier: string) => async () => WebAssembly.compile(await readFile(require.resolve(specifier)));

export const nodePasswordHasher = createPasswordHasher({
  simd: compile('argon2id/dist/simd.wasm'),
  noSimd: compile('argon2id/dist/no-simd.wasm'),
});
