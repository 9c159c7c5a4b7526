// The contract is tested, not trusted: every response the workerd suite observes through
// `Client` (test/helpers.ts) is checked against public/openapi.json, the document generated from
// the code (scripts/openapi.mjs). A status the operation does not declare, a body that does not
// match its schema (response objects are strict: an undocumented field fails), a missing promised
// header or an undocumented route fails the test that made the request, naming the difference.
import { Validator, type Schema } from '@cfworker/json-schema';
import document from '../public/openapi.json';

type Json = Record<string, any>;
const doc = document as unknown as Json;

/** edge-auth's own path prefixes: anything else is a gateway route or an asset, not this API. */
const OWN_PATH = /^\/(auth|api|admin|oauth|\.well-known)(\/|$)|^\/health$|^\/openapi\.json$/;

interface Template {
  path: string;
  regex: RegExp;
  literal: number;
}

// Literal segments win over parameters (/auth/passkey/login before /auth/passkeys/{id}).
const templates: Template[] = Object.keys(doc.paths)
  .map((path) => ({
    path,
    regex: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    literal: path.split('/').filter((s) => s && !s.startsWith('{')).length,
  }))
  .sort((a, b) => b.literal - a.literal);

function deref<T extends Json>(value: T): T {
  let v: Json = value;
  while (v && typeof v.$ref === 'string') {
    v = v.$ref.slice(2).split('/').reduce((node: Json, key: string) => node[key], doc);
  }
  return v as T;
}

const validators = new Map<string, Validator>();
function validatorFor(key: string, schema: Json): Validator {
  let v = validators.get(key);
  if (!v) {
    // The document's components travel with each schema, so its #/components/... references resolve.
    v = new Validator({ ...schema, components: doc.components } as Schema, '2020-12', false);
    validators.set(key, v);
  }
  return v;
}

export class ContractViolation extends Error {
  override name = 'ContractViolation';
}

/** Problems of one observed response, empty when it matches the document. */
export async function contractProblems(method: string, pathname: string, res: Response): Promise<string[]> {
  const m = method.toLowerCase();
  // CORS preflights and HEAD are protocol-level answers, described in docs/security.md.
  if (m === 'options' || m === 'head') return [];
  if (!OWN_PATH.test(pathname)) return [];
  const template = templates.find((t) => t.regex.test(pathname));
  const operation: Json | undefined = template ? doc.paths[template.path][m] : undefined;
  if (!operation) {
    // Not an operation: the house 404 (a method the path does not have included).
    if (res.status !== 404) return [`${method} ${pathname} is not in the document, yet answered ${res.status}`];
    return bodyProblems(`404 not_found`, { type: 'object', properties: { error: { const: 'not_found' }, message: { type: 'string' } }, required: ['error', 'message'], additionalProperties: false }, res);
  }
  const where = `${method} ${template!.path} → ${res.status}`;
  const declared = operation.responses[String(res.status)];
  if (!declared) return [`${where}: status not declared (declared: ${Object.keys(operation.responses).join(', ')}); body ${(await res.clone().text()).slice(0, 200)}`];
  const response = deref(declared);
  const problems: string[] = [];
  for (const [name, h] of Object.entries<Json>(response.headers ?? {})) {
    if (deref(h).required && !res.headers.has(name)) problems.push(`${where}: header ${name} missing`);
  }
  const content = response.content as Json | undefined;
  if (!content) {
    const text = await res.clone().text();
    if (text.length > 0) problems.push(`${where}: declared without a body, got ${text.slice(0, 120)}`);
    return problems;
  }
  const type = (res.headers.get('Content-Type') ?? '').split(';')[0]!.trim();
  const media = content[type];
  if (!media) return [...problems, `${where}: content type ${type || '(none)'} not declared (${Object.keys(content).join(', ')})`];
  if (type !== 'application/json') return problems;
  return [...problems, ...(await bodyProblems(`${where}`, media.schema, res, `${m} ${template!.path} ${res.status}`))];
}

async function bodyProblems(where: string, schema: Json, res: Response, key = where): Promise<string[]> {
  const text = await res.clone().text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [`${where}: body is not JSON: ${text.slice(0, 120)}`];
  }
  const result = validatorFor(key, schema).validate(body);
  if (result.valid) return [];
  const details = result.errors
    .filter((e) => e.keyword !== 'properties' && e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== '$ref')
    .slice(0, 4)
    .map((e) => `${e.instanceLocation}: ${e.error}`);
  return [`${where}: body does not match the document (${details.join('; ') || result.errors[0]?.error}): ${text.slice(0, 300)}`];
}

/** Throws ContractViolation when the response disagrees with the document. */
export async function assertContract(method: string, pathname: string, res: Response): Promise<void> {
  const problems = await contractProblems(method, pathname, res);
  if (problems.length) throw new ContractViolation(`The response disagrees with public/openapi.json:\n  ${problems.join('\n  ')}`);
}
