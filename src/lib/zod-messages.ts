// English messages for zod/mini: the wording of zod's `en` locale, for the issues this service's
// schemas can raise (its string formats are only email and uuid), at a fraction of the locale's
// size in the Worker bundle (bench/budget.json). test/validation-messages.test.ts compares it with
// the locale itself.
import type * as z from 'zod/mini';

/** zod's util.stringifyPrimitive, parsedType and joinValues (not importable from zod/mini alone). */
const primitive = (v: unknown): string => (typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? `"${v}"` : `${v}`);
const join = (values: unknown[], separator: string): string => values.map(primitive).join(separator);
function parsedType(data: unknown): string {
  if (typeof data === 'number') return Number.isNaN(data) ? 'nan' : 'number';
  if (typeof data !== 'object') return typeof data;
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'array';
  if (Object.getPrototypeOf(data) !== Object.prototype && 'constructor' in data && data.constructor) return (data.constructor as { name: string }).name;
  return 'object';
}

const UNITS: Record<string, string> = { string: 'characters', file: 'bytes', array: 'items', set: 'items', map: 'entries' };
const FORMATS: Record<string, string> = { regex: 'input', email: 'email address', uuid: 'UUID', template_literal: 'input' };

function typeName(type: string, input?: unknown): string {
  if (type === 'number' && typeof input === 'number' && !Number.isFinite(input)) return String(input);
  return type === 'nan' ? 'NaN' : type;
}

type Issue = Parameters<z.core.$ZodErrorMap>[0] & Record<string, any>;

export function englishMessage(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `Invalid input: expected ${typeName(issue.expected)}, received ${typeName(parsedType(issue.input), issue.input)}`;
    case 'invalid_value':
      return issue.values.length === 1 ? `Invalid input: expected ${primitive(issue.values[0])}` : `Invalid option: expected one of ${join(issue.values, '|')}`;
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const adj = issue.exact ? 'exactly ' : issue.inclusive ? (big ? '<=' : '>=') : big ? '<' : '>';
      const bound = String(big ? issue.maximum : issue.minimum);
      const unit = UNITS[issue.origin];
      const what = big ? (issue.origin ?? 'value') : issue.origin;
      return `${big ? 'Too big' : 'Too small'}: expected ${what} ${unit ? `to have ${adj}${bound} ${unit}` : `to be ${adj}${bound}`}`;
    }
    case 'invalid_format':
      if (issue.format === 'starts_with') return `Invalid string: must start with "${issue.prefix}"`;
      if (issue.format === 'ends_with') return `Invalid string: must end with "${issue.suffix}"`;
      if (issue.format === 'includes') return `Invalid string: must include "${issue.includes}"`;
      if (issue.format === 'regex') return `Invalid string: must match pattern ${issue.pattern}`;
      return `Invalid ${FORMATS[issue.format] ?? issue.format}`;
    case 'not_multiple_of':
      return `Invalid number: must be a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return `Unrecognized key${issue.keys.length > 1 ? 's' : ''}: ${join(issue.keys, ', ')}`;
    case 'invalid_key':
      return `Invalid key in ${issue.origin}`;
    case 'invalid_union':
      if (Array.isArray(issue.options) && issue.options.length > 0) return `Invalid discriminator value. Expected ${issue.options.map((o: unknown) => `'${o}'`).join(' | ')}`;
      return issue.inclusive === false ? 'Invalid input: more than one option matched' : 'Invalid input';
    case 'invalid_element':
      return `Invalid value in ${issue.origin}`;
    default:
      return 'Invalid input';
  }
}
