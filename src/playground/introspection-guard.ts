import { type ApolloServerPlugin } from '@apollo/server';
import { type DocumentNode, GraphQLError, Kind, visit, BREAK } from 'graphql';
import { mayManageContent } from '../auth/permissions';
import { forbidden, unauthenticated } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type GatewayContext } from '../graphql/context';

/** True when the operation asks for `__schema` or `__type` (`__typename` is not introspection of the schema). */
export function isIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    [Kind.FIELD]: (node) => {
      if (node.name.value === '__schema' || node.name.value === '__type') {
        found = true;
        return BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/**
 * PLAYGROUND=admin: introspection (the IDE's schema docs and completion) only for callers whose token carries a
 * content-manager role (INGEST_ROLES). A browser cannot attach a Bearer token to the navigation that loads a page,
 * so the page itself is served to anyone: it is static code with no data (and, in production, no tokens). What it
 * reveals beyond the API everyone may call is the schema, and that is what this guard keeps for admins.
 */
export function adminOnlyIntrospection(config: Config): ApolloServerPlugin<GatewayContext> {
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation({ document, contextValue }) {
          if (!isIntrospection(document)) return Promise.resolve();
          const identity = contextValue.identity;
          if (identity !== null && mayManageContent(identity, config)) return Promise.resolve();
          const needed = `one of the roles: ${config.ingestRoles.join(', ')} (PLAYGROUND=admin)`;
          const error =
            identity === null
              ? unauthenticated(`Introspection requires a token with ${needed}`)
              : forbidden(`Introspection requires ${needed}`);
          return Promise.reject(
            new GraphQLError(error.message, {
              originalError: error,
              extensions: { code: error.code, http: { status: identity === null ? 401 : 403 } },
            }),
          );
        },
      });
    },
  };
}
