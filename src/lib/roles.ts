// Roles as D1 stores them (a JSON list of strings in users.roles, api_keys.roles, ...). Pure, so
// `npm run user:create` (scripts/lib/user-sql.ts) reads them exactly as the Worker does.

/** The roles of a stored JSON list; anything that is not one reads as no roles. */
export function parseRoles(json: string): string[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}
