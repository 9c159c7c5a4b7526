// Opaque pagination cursors: base64url of `<kind>:<last sort key>`. Keyset pagination (the next
// page starts after the last key seen) is stable while rows are added or removed, unlike offsets.
// Cursors carry no secret and grant nothing: a forged one only moves the starting point.
import { AppError } from '../errors';
import { b64url, fromB64url, utf8 } from '../crypto/encoding';

const MAX_CURSOR_LENGTH = 400;

export function encodeCursor(kind: string, key: string | number): string {
  return b64url(utf8(`${kind}:${key}`));
}

function invalidCursor(): AppError {
  return new AppError('invalid_request', 'cursor is not valid.');
}

/** The sort key inside a cursor of `kind`; 400 invalid_request for anything else. */
export function decodeCursor(kind: string, cursor: string, maxLength = MAX_CURSOR_LENGTH): string {
  if (cursor.length === 0 || cursor.length > maxLength) throw invalidCursor();
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(fromB64url(cursor));
  } catch {
    throw invalidCursor();
  }
  const prefix = `${kind}:`;
  if (!text.startsWith(prefix) || text.length === prefix.length) throw invalidCursor();
  return text.slice(prefix.length);
}

/** A cursor whose key is a positive integer (row ids). */
export function decodeIntCursor(kind: string, cursor: string): number {
  const key = decodeCursor(kind, cursor);
  if (!/^[1-9]\d{0,15}$/.test(key)) throw invalidCursor();
  return Number(key);
}
