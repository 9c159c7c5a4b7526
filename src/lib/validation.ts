// Input shapes and limits, one place. Limits stop abuse before any expensive work (hashing).
//
// zod/mini, not zod: the same validation core (issue codes, paths and messages are unchanged)
// without the chainable classic API, which was two thirds of the Worker bundle (docs/performance.md).
// The same schemas feed the OpenAPI document through z.toJSONSchema at build time, not at run time.
import * as z from 'zod/mini';
import { ROLE_PATTERN } from '../config';
import { utf8 } from '../crypto/encoding';
import { englishMessage } from './zod-messages';

// classic zod installs the English messages on import; zod/mini leaves "Invalid input" everywhere.
// Installed here, so the default messages a client reads (e.g. "Too big: expected string to have
// <=512 characters") stay exactly what they were.
z.config({ localeError: englishMessage as z.core.$ZodErrorMap });

/** Documented username alphabet: ASCII letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
export const PASSWORD_MIN_BYTES = 8;
export const PASSWORD_MAX_BYTES = 1024;
// The role alphabet lives with the configuration (src/config.ts), which the deploy pre-flight loads.
export { ROLE_PATTERN };
/** Roles travel in every access token: a bound keeps tokens small. */
export const MAX_ROLES_PER_USER = 16;

/**
 * NFKC first, so compatibility look-alikes (full-width letters, ligatures) fold to the ASCII they
 * imitate and then either match the alphabet or are refused; the lower-cased form is the unique key.
 */
export function normalizeUsername(raw: string): { username: string; key: string; skeleton: string } {
  const username = raw.normalize('NFKC');
  return { username, key: username.toLowerCase(), skeleton: usernameSkeleton(username) };
}

// Look-alike characters of the username alphabet, in the spirit of Unicode TS #39's confusable
// skeletons restricted to what USERNAME_PATTERN allows. Usernames are case-insensitive, so 'I'
// (capital i, like 'l') and 'i' are the same key, which makes i, l and 1 one class. Digraphs
// are folded after the single characters, so 'cI' (-> 'cl') also meets 'd'.
const SKELETON_CHARS: Record<string, string> = { i: 'l', '1': 'l', '0': 'o' };
const SKELETON_DIGRAPHS: [RegExp, string][] = [
  [/rn/g, 'm'],
  [/vv/g, 'w'],
  [/cl/g, 'd'],
];

/**
 * The look-alike skeleton of a (normalised) username: two names with one skeleton could be
 * mistaken for each other ('aIice' and 'alice', 'rnodern' and 'modern', 'bobO' and 'bob0'),
 * so only one account may hold it (users.username_skeleton is unique).
 */
export function usernameSkeleton(username: string): string {
  let out = username.toLowerCase().replace(/[i10]/g, (ch) => SKELETON_CHARS[ch]!);
  for (const [pattern, replacement] of SKELETON_DIGRAPHS) out = out.replace(pattern, replacement);
  return out;
}

export const username = z
  .pipe(
    z.string({ error: 'username must be a string' }).check(z.maxLength(256, 'username is too long')),
    z.transform((raw: string) => normalizeUsername(raw)),
  )
  .check(
    z.refine((u) => USERNAME_PATTERN.test(u.username), {
      message: 'username must be 3 to 64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
    }),
  );

/** A UTF-16 surrogate without its pair: JSON can carry one, UTF-8 cannot encode it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const WELL_FORMED = { message: 'password must be valid Unicode text (no unpaired surrogates)' };

/**
 * Encoding to UTF-8 turns every lone surrogate into U+FFFD, so distinct passwords would hash the
 * same: refused as invalid input instead.
 */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

export const password = z.string({ error: 'password must be a string' }).check(
  z.refine(isWellFormed, WELL_FORMED),
  z.refine((p) => utf8(p).length >= PASSWORD_MIN_BYTES, { message: `password must be at least ${PASSWORD_MIN_BYTES} bytes` }),
  z.refine((p) => utf8(p).length <= PASSWORD_MAX_BYTES, { message: `password must be at most ${PASSWORD_MAX_BYTES} bytes` }),
);

/** For login, only the length cap: a too-short password is simply wrong, not a different error. */
export const loginPassword = z.string({ error: 'password must be a string' }).check(
  z.minLength(1, 'password is required'),
  z.refine(isWellFormed, WELL_FORMED),
  z.refine((p) => utf8(p).length <= PASSWORD_MAX_BYTES, { message: `password must be at most ${PASSWORD_MAX_BYTES} bytes` }),
);

export const email = z.email({ error: 'email must be a valid address' }).check(z.maxLength(254, 'email is too long'));

export const role = z.string().check(z.regex(ROLE_PATTERN, 'role names are 1 to 32 characters: a-z first, then a-z, 0-9, "_", ":" or "-"'));

export const refreshToken = z.string({ error: 'refresh_token must be a string' }).check(z.minLength(1), z.maxLength(512));
