import { type Identity } from '../auth/identity';
import { unauthenticated } from '../common/errors/domain-error';

export interface GatewayContext {
  identity: Identity | null;
  requestId: string;
}

export function requireIdentity(ctx: GatewayContext): Identity {
  if (ctx.identity === null) {
    throw unauthenticated('Authentication required: send Authorization: Bearer <token>');
  }
  return ctx.identity;
}
