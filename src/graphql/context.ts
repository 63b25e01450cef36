import { type Identity } from '../auth/identity';
import { unauthenticated } from '../common/errors/domain-error';
import { type Loaders } from './loaders';

export interface GatewayContext {
  identity: Identity | null;
  requestId: string;
  /** Per-request DataLoaders, bound to the identity; null without one. */
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
