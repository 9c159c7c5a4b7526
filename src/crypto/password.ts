// argon2id in workerd: the wasm builds are imported as modules, because workerd forbids compiling
// wasm from bytes. Format, parameters and checks live in password-hasher.ts (shared with Node).
import simd from 'argon2id/dist/simd.wasm';
import noSimd from 'argon2id/dist/no-simd.wasm';
import { createPasswordHasher } from './password-hasher';

export { CURRENT_PARAMS, PasswordHashError, parsePhc, type Argon2Params, type VerifyResult } from './password-hasher';

export const { hashPassword, verifyPassword, burnPasswordCheck } = createPasswordHasher({
  simd: async () => simd,
  noSimd: async () => noSimd,
});
