// Input shapes and limits, one place. Limits stop abuse before any expensive work (hashing).
import { z } from 'zod';
import { utf8 } from '../crypto/encoding';

/** Documented username alphabet: ASCII letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
export const PASSWORD_MIN_BYTES = 8;
export const PASSWORD_MAX_BYTES = 1024;
/** Documented role alphabet: 1 to 32 characters, a lower-case letter first, then a-z, 0-9, '_', ':' or '-'. */
export const ROLE_PATTERN = /^[a-z][a-z0-9_:-]{0,31}$/;
/** Roles travel in every access token: a bound keeps tokens small. */
export const MAX_ROLES_PER_USER = 16;

/**
 * NFKC first, so compatibility look-alikes (full-width letters, ligatures) fold to the ASCII they
 * imitate and then either match the alphabet or are refused; the lower-cased form is the unique key.
 */
export function normalizeUsername(raw: string): { username: string; key: string } {
  const username = raw.normalize('NFKC');
  return { username, key: username.toLowerCase() };
}

export const username = z
  .string({ error: 'username must be a string' })
  .max(256, 'username is too long')
  .transform((raw) => normalizeUsername(raw))
  .refine((u) => USERNAME_PATTERN.test(u.username), {
    message: 'username must be 3 to 64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
  });

export const password = z
  .string({ error: 'password must be a string' })
  .refine((p) => utf8(p).length >= PASSWORD_MIN_BYTES, { message: `password must be at least ${PASSWORD_MIN_BYTES} bytes` })
  .refine((p) => utf8(p).length <= PASSWORD_MAX_BYTES, { message: `password must be at most ${PASSWORD_MAX_BYTES} bytes` });

/** For login, only the length cap: a too-short password is simply wrong, not a different error. */
export const loginPassword = z
  .string({ error: 'password must be a string' })
  .min(1, 'password is required')
  .refine((p) => utf8(p).length <= PASSWORD_MAX_BYTES, { message: `password must be at most ${PASSWORD_MAX_BYTES} bytes` });

export const email = z.email({ error: 'email must be a valid address' }).max(254, 'email is too long');

export const role = z.string().regex(ROLE_PATTERN, 'role names are 1 to 32 characters: a-z first, then a-z, 0-9, "_", ":" or "-"');

export const refreshToken = z.string({ error: 'refresh_token must be a string' }).min(1).max(512);
