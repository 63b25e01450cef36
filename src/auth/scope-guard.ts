import { OperationTypeNode } from 'graphql';
import { type MiddlewareFn } from 'type-graphql';
import { forbidden } from '../common/errors/domain-error';
import { type GatewayContext } from '../graphql/context';
import { type ApiKeyScope } from './identity';

/**
 * API keys carry scopes instead of roles: RETRIEVE for every root query field, INGEST for every root mutation.
 * Checked once here for all root fields, so a new resolver cannot forget it. Tokens are not affected.
 */
export const apiKeyScopeGuard: MiddlewareFn<GatewayContext> = async ({ context, info }, next) => {
  const credential = context.identity?.credential;
  if (credential?.kind === 'apiKey' && info.path.prev === undefined) {
    const needed: ApiKeyScope = info.operation.operation === OperationTypeNode.QUERY ? 'retrieve' : 'ingest';
    if (!credential.scopes.includes(needed)) {
      throw forbidden(`This API key lacks the ${needed.toUpperCase()} scope needed for ${info.fieldName}`);
    }
  }
  return (await next()) as unknown;
};
