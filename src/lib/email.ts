// Email addresses: one normalised key per address, so one account per address (users.email_key,
// unique among verified addresses) and one throttle bucket per mailbox.

/**
 * The comparison key of an address: trimmed, NFKC (full-width and compatibility forms fold to
 * what they imitate) and lower-cased whole. The local part is case-sensitive in RFC 5321 but no
 * mail provider in use treats it so, and two accounts on "Bob@x" and "bob@x" would be look-alikes.
 * Dots and "+tags" are kept: they are different mailboxes at most providers.
 */
export function normalizeEmail(raw: string): { email: string; key: string } {
  const email = raw.trim().normalize('NFKC');
  return { email, key: email.toLowerCase() };
}

/** A login identifier is an address when it has an "@" (USERNAME_PATTERN never allows one). */
export function isEmailIdentifier(identifier: string): boolean {
  return identifier.includes('@');
}
