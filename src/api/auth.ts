/**
 * Bearer-token authentication for everything under /api/v1. The token decides the tenant;
 * handlers take the tenant from `requireIdentity(request)` and never from the client.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenIdentity, TokenVerifier } from '../identity/types.ts';
import { ApiError } from './errors.ts';

const identities = new WeakMap<FastifyRequest, TokenIdentity>();

/** Methods a `read` token may use; everything else needs `admin`. */
const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

const challenge = { 'www-authenticate': 'Bearer realm="querstrom"' };

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message, { headers: challenge });
}

/** The caller's verified identity; only routes inside the authenticated scope have one. */
export function requireIdentity(request: FastifyRequest): TokenIdentity {
  const identity = identities.get(request);
  if (!identity) throw unauthorized('this route needs a bearer token');
  return identity;
}

/** Adds the auth hook to the (encapsulated) scope it is called on. */
export function installBearerAuth(scope: FastifyInstance, tokens: TokenVerifier): void {
  scope.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (!header) throw unauthorized('missing Authorization header; send "Authorization: Bearer <token>"');
    // Never echo the header back: it may hold a real token with a typo.
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match?.[1]) throw unauthorized('Authorization header must be "Bearer <token>"');
    const identity = tokens.verifyToken(match[1]);
    if (!identity) throw unauthorized('invalid or revoked token');
    if (!readMethods.has(request.method) && identity.role !== 'admin') {
      throw new ApiError(403, 'forbidden', `${request.method} needs an admin token; this token has role "${identity.role}"`);
    }
    identities.set(request, identity);
  });
}
