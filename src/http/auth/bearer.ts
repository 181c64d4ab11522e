import type { Request } from 'express';
import { GatewayError } from '../../apim/errors';
import type { Principal, TokenVerifier } from './tokens';

/** The caller of a request from its `Authorization: Bearer` token; 401 when there is none. */
export function authenticateBearer(req: Request, verifier: TokenVerifier | undefined): Principal {
  const header = req.get('authorization');
  const match = header === undefined ? null : /^Bearer\s+([A-Za-z0-9_\-.=]+)\s*$/i.exec(header);
  if (!match) throw new GatewayError('UNAUTHENTICATED', 'A bearer access token is required (Authorization: Bearer <token>)');
  if (!verifier) throw new GatewayError('UNAUTHENTICATED', 'Token authentication is not configured on this server ([auth.jwt])');
  return verifier.verify(match[1]!);
}

/** 403 unless the token carries one of `scopes` (any one, as WSO2's security sections mean). */
export function requireAnyScope(principal: Principal, scopes: readonly string[]): void {
  if (!scopes.some((scope) => principal.scopes.has(scope))) {
    throw new GatewayError('FORBIDDEN', `The access token does not allow this operation; it needs one of the scopes: ${scopes.join(', ')}`);
  }
}
