import { type Identity } from '../auth/identity';
import { unauthenticated } from '../common/errors/domain-error';
import { type TenantSession } from '../db/session';
import { type RequestState } from '../ops/request-context';
import { type Loaders } from './loaders';

export interface GatewayContext {
  identity: Identity | null;
  /** The HTTP request: its id, and what the outcome plugin records for the request log line and the metrics. */
  request: RequestState;
  /**
   * The caller's way into the database, created from the identity: every transaction it opens runs under the
   * row-level security policies with the caller's merchant and principals. Null without an identity.
   */
  session: TenantSession | null;
  /** Per-request DataLoaders, bound to the session; null without one. */
  loaders: Loaders | null;
}

export function requireLoaders(ctx: GatewayContext): Loaders {
  requireIdentity(ctx);
  return ctx.loaders!;
}

export function requireIdentity(ctx: GatewayContext): Identity {
  if (ctx.identity === null) {
    throw unauthenticated('Authentication required: send Authorization: Bearer <token>');
  }
  return ctx.identity;
}

/** The caller's database session; UNAUTHENTICATED without an identity. */
export function requireSession(ctx: GatewayContext): TenantSession {
  requireIdentity(ctx);
  return ctx.session!;
}
