// The English messages installed for zod/mini (src/lib/zod-messages.ts) are zod's own `en` locale
// wording: every issue the schemas can raise gets the same text from both.
import en from 'zod/v4/locales/en.js';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import '../src/lib/validation'; // installs the messages, as the Worker does

const locale = en().localeError as (issue: unknown) => string;

/** Every issue a set of schemas raises on a set of inputs. */
function issues(): z.core.$ZodIssue[] {
  const cases: [z.ZodMiniType, unknown][] = [
    [z.string(), 42],
    [z.string(), null],
    [z.int(), 1.5],
    [z.int(), Number.NaN],
    [z.number(), Number.POSITIVE_INFINITY],
    [z.boolean(), 'yes'],
    [z.array(z.string()), {}],
    [z.string().check(z.maxLength(3)), 'abcd'],
    [z.string().check(z.minLength(3)), 'a'],
    [z.string().check(z.length(2)), 'abc'],
    [z.array(z.string()).check(z.maxLength(1)), ['a', 'b']],
    [z.array(z.string()).check(z.minLength(2)), []],
    [z.int().check(z.minimum(60)), 5],
    [z.int().check(z.maximum(10)), 50],
    [z.number().check(z.gt(0)), 0],
    [z.number().check(z.lt(0)), 1],
    [z.number().check(z.multipleOf(5)), 3],
    [z.email(), 'not an email'],
    [z.uuid(), 'nope'],
    [z.string().check(z.regex(/^\d+$/)), 'abc'],
    [z.string().check(z.startsWith('ab')), 'x'],
    [z.string().check(z.endsWith('yz')), 'x'],
    [z.string().check(z.includes('mid')), 'x'],
    [z.enum(['bearer', 'cookie']), 'other'],
    [z.literal('client_credentials'), 'password'],
    [z.strictObject({ a: z.string() }), { a: 'x', b: 1 }],
    [z.strictObject({ a: z.string() }), { a: 'x', b: 1, c: 2 }],
    [z.strictObject({ a: z.string() }), {}],
    [z.union([z.string(), z.int()]), true],
    [z.record(z.string().check(z.maxLength(1)), z.string()), { long: 'x' }],
    [z.record(z.string(), z.int()), { a: 'x' }],
  ];
  return cases.flatMap(([schema, input]) => {
    const result = schema.safeParse(input, { reportInput: true });
    expect(result.success, JSON.stringify(input)).toBe(false);
    return result.success ? [] : result.error.issues;
  });
}

describe('zod/mini messages', () => {
  it('are the en locale wording for every issue kind the schemas raise', () => {
    const all = issues();
    expect(all.length).toBeGreaterThan(30);
    // Each message was written by the installed map while parsing; the locale says the same.
    for (const issue of all) expect(issue.message, JSON.stringify(issue)).toBe(locale(issue));
  });
});
