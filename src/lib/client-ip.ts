// The client address as Cloudflare's edge reports it (CF-Connecting-IP, set by the edge for every
// request from the internet, overwriting any value the client sent), validated, and the bucket
// it is throttled under. Anything that is not a plain IPv4/IPv6 literal counts as no address.

const MAX_IP_LENGTH = 45; // the longest textual IPv6 form, ::ffff:255.255.255.255 included
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEXTET = /^[0-9a-f]{1,4}$/;

/** Canonical dotted quad, or null. Leading zeros are refused (some parsers read them as octal). */
function parseIpv4(text: string): string | null {
  const match = IPV4.exec(text);
  if (!match) return null;
  const parts = match.slice(1).map((p) => (p.length > 1 && p.startsWith('0') ? NaN : Number(p)));
  return parts.every((n) => n >= 0 && n <= 255) ? parts.join('.') : null;
}

/** The eight hextets of an IPv6 literal (embedded IPv4 tail allowed, zone ids not), or null. */
function parseIpv6(text: string): number[] | null {
  if (!text.includes(':')) return null;
  let head = text;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return null;
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const h of part.split(':')) {
      if (!HEXTET.test(h)) return null;
      out.push(parseInt(h, 16));
    }
    return out;
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (!left || !right) return null;
  const given = left.length + right.length + tail.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return null;
  return [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail];
}

function isV4Mapped(h: number[]): boolean {
  return h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff;
}

/** The validated client address (lower-cased as sent), or null when absent or not an IP literal. */
export function parseClientIp(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const text = raw.trim().toLowerCase();
  if (text.length === 0 || text.length > MAX_IP_LENGTH) return null;
  const v4 = parseIpv4(text);
  if (v4) return v4;
  return parseIpv6(text) ? text : null;
}

/**
 * The throttling key of an address. IPv4: the address. IPv6: its /64, because one subscriber
 * usually holds a whole /64 and could otherwise rotate through 2^64 addresses; IPv4-mapped IPv6
 * counts as the IPv4 address. Requests without a usable address share one bucket ("unknown"):
 * on Cloudflare that only happens for internal callers (service bindings), which should forward
 * the end user's CF-Connecting-IP.
 */
export function ipBucket(ip: string | null): string {
  if (ip === null) return 'unknown';
  if (!ip.includes(':')) return ip;
  const h = parseIpv6(ip);
  if (!h) return 'unknown';
  if (isV4Mapped(h)) return `${h[6]! >> 8}.${h[6]! & 255}.${h[7]! >> 8}.${h[7]! & 255}`;
  return `${h.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}
