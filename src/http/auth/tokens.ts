import { readFileSync } from 'node:fs';
import jwt from 'jsonwebtoken';
import type { JwtConfig } from '../../config/schema';
import { SUPER_TENANT } from '../../config/schema';
import type { TenantRef } from '../../domain/model';
import { GatewayError } from '../../apim/errors';

/** Who is calling: the token's subject within one tenant, with the scopes it was granted. */
export interface Principal {
  /** The `sub` claim: the user (subscriber, publisher or admin) name within the tenant. */
  subject: string;
  email: string | null;
  tenant: TenantRef;
  scopes: ReadonlySet<string>;
}

export interface TenantLookup {
  find(domain: string): TenantRef | undefined;
}

/**
 * Verifies bearer JWTs the way `[auth.jwt]` says: the algorithm is pinned by configuration (never
 * read from the token, so `alg: none` and HS256-with-the-public-key forgeries fail), issuer,
 * audience and expiry are enforced, and `exp` and `sub` must be present. The tenant comes from
 * the configured claim (absent → carbon.super) and must be a configured tenant.
 */
export class TokenVerifier {
  private readonly key: string;

  constructor(
    private readonly config: JwtConfig,
    private readonly tenants: TenantLookup,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.key = config.algorithm === 'HS256' ? config.secret! : readFileSync(config.public_key_file!, 'utf8');
  }

  verify(token: string): Principal {
    let claims: jwt.JwtPayload;
    try {
      const decoded = jwt.verify(token, this.key, {
        algorithms: [this.config.algorithm],
        issuer: this.config.issuer,
        audience: this.config.audience,
        clockTimestamp: Math.floor(this.clock().getTime() / 1000),
      });
      if (typeof decoded === 'string') throw new GatewayError('UNAUTHENTICATED', 'The access token has no claims');
      claims = decoded;
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      throw new GatewayError('UNAUTHENTICATED', describeJwtFailure(error));
    }
    if (typeof claims.exp !== 'number') throw new GatewayError('UNAUTHENTICATED', 'The access token has no expiry (exp)');
    if (typeof claims.sub !== 'string' || claims.sub.trim() === '') {
      throw new GatewayError('UNAUTHENTICATED', 'The access token has no subject (sub)');
    }
    const tenantClaim = claims[this.config.tenant_claim];
    if (tenantClaim !== undefined && (typeof tenantClaim !== 'string' || tenantClaim === '')) {
      throw new GatewayError('UNAUTHENTICATED', `The access token's ${this.config.tenant_claim} claim is not a tenant domain`);
    }
    const domain = tenantClaim ?? SUPER_TENANT.domain;
    const tenant = this.tenants.find(domain);
    if (!tenant) throw new GatewayError('UNAUTHENTICATED', `The access token names tenant ${domain}, which this server does not serve`);
    checkStorable('sub', claims.sub, SUBJECT_MAX_LENGTH);
    const email = typeof claims.email === 'string' && claims.email !== '' ? claims.email : null;
    if (email !== null) checkStorable('email', email, EMAIL_MAX_LENGTH);
    return { subject: claims.sub, email, tenant: { domain: tenant.domain, id: tenant.id }, scopes: scopesOf(claims.scope) };
  }
}

/**
 * The subject is stored as the creator of what the caller makes (`CREATED_BY`, `AM_SUBSCRIBER.USER_ID`:
 * WSO2's columns of 100 and 255 characters, the smaller wins) and the e-mail in
 * `AM_SUBSCRIBER.EMAIL_ADDRESS` (256). A token that cannot be stored is refused here, naming the
 * claim, rather than by the database halfway through a request.
 */
export const SUBJECT_MAX_LENGTH = 100;
export const EMAIL_MAX_LENGTH = 256;

function checkStorable(claim: string, value: string, max: number): void {
  // Columns count characters (code points), not UTF-16 units.
  if ([...value].length > max) throw new GatewayError('UNAUTHENTICATED', `The access token's ${claim} is longer than ${max} characters`);
  // PostgreSQL cannot store NUL, and no name or address holds a control character or a lone surrogate.
  if (/[\u0000-\u001f\u007f]/.test(value) || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) {
    throw new GatewayError('UNAUTHENTICATED', `The access token's ${claim} contains a character that cannot be stored`);
  }
}

/** WSO2 puts scopes in `scope` as one space-separated string; an array is accepted too. */
function scopesOf(claim: unknown): ReadonlySet<string> {
  if (typeof claim === 'string') return new Set(claim.split(/\s+/).filter((s) => s !== ''));
  if (Array.isArray(claim)) return new Set(claim.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

/** A reason a caller can act on, without echoing the token. */
function describeJwtFailure(error: unknown): string {
  if (error instanceof jwt.TokenExpiredError) return 'The access token has expired';
  if (error instanceof jwt.NotBeforeError) return 'The access token is not valid yet';
  if (error instanceof jwt.JsonWebTokenError) {
    if (/audience/.test(error.message)) return 'The access token is not meant for this server (audience)';
    if (/issuer/.test(error.message)) return 'The access token was not issued by the configured issuer';
    if (/algorithm/.test(error.message)) return 'The access token is not signed with the configured algorithm';
    return 'The access token is not valid';
  }
  return 'The access token is not valid';
}

export interface MintInput {
  subject: string;
  tenant: string | undefined;
  scopes: readonly string[];
  email?: string;
  /** Seconds; default one hour. */
  expiresIn?: number;
}

/**
 * Signs a token with the configured key (HS256: the secret; RS256: `private_key_file`), for
 * `meterline token` and tests. The super tenant's tokens carry no tenant claim, as in WSO2.
 */
export function mintToken(config: JwtConfig, input: MintInput, now: Date = new Date()): string {
  const key = signingKey(config);
  const payload: Record<string, unknown> = {
    sub: input.subject,
    scope: input.scopes.join(' '),
    iat: Math.floor(now.getTime() / 1000),
    ...(input.tenant !== undefined && input.tenant !== SUPER_TENANT.domain ? { [config.tenant_claim]: input.tenant } : {}),
    ...(input.email ? { email: input.email } : {}),
  };
  return jwt.sign(payload, key, {
    algorithm: config.algorithm,
    issuer: config.issuer,
    audience: config.audience,
    expiresIn: input.expiresIn ?? 3600,
  });
}

function signingKey(config: JwtConfig): string {
  if (config.algorithm === 'HS256') return config.secret!;
  if (config.private_key_file === undefined) {
    throw new Error('[auth.jwt] private_key_file is required to mint RS256 tokens');
  }
  return readFileSync(config.private_key_file, 'utf8');
}
