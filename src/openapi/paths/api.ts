// /api: the demo protected routes, and /health.
import * as z from 'zod/mini';
import { ERRORS, errors, op } from '../spec';

const Caller = z.strictObject({ id: z.string(), username: z.string(), roles: z.array(z.string()) });
const Greeting = z.strictObject({ message: z.string(), user: Caller });
const every = ['bearer', 'cookie', 'apiKey', 'clientToken'] as const;

export const apiOperations = [
  op({
    method: 'get',
    path: '/health',
    operationId: 'health',
    tag: 'Service',
    summary: 'Liveness',
    security: [],
    responses: { 200: { description: 'Up', schema: z.strictObject({ status: z.literal('ok') }) } },
    errors: [],
  }),
  op({
    method: 'get',
    path: '/api/private',
    operationId: 'private',
    tag: 'Demo',
    summary: 'A protected route: any valid credential',
    description: 'Checks the signature, claims and revocation; no D1 read.',
    security: [...every],
    responses: { 200: { description: 'The caller, from its token', schema: Greeting } },
    errors: errors(ERRORS.auth),
  }),
  op({
    method: 'get',
    path: '/api/admin',
    operationId: 'adminDemo',
    tag: 'Demo',
    summary: 'A protected route for the admin role',
    security: [...every],
    roles: ['admin'],
    responses: { 200: { description: 'The caller, from its token', schema: Greeting } },
    errors: errors(ERRORS.auth, ERRORS.roles),
  }),
];
