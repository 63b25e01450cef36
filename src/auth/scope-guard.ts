import { defaultFieldResolver, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { forbidden } from '../common/errors/domain-error';
import { type GatewayContext } from '../graphql/context';
import { type ApiKeyScope } from './identity';

/**
 * API keys carry scopes instead of roles: RETRIEVE for every root query field, INGEST for every root mutation.
 * Every root field of the built schema is wrapped here, so a new resolver cannot forget it. Tokens are not affected.
 *
 * Only root fields: a type-graphql global middleware did the same check, but it ran on every field of every
 * result (an async call and its promises per chunk field, which turned graphql-js's completion of each field
 * asynchronous) to act on the root ones alone.
 */
export function guardRootFieldsWithApiKeyScopes(schema: GraphQLSchema): void {
  const roots: [ReturnType<GraphQLSchema['getQueryType']>, ApiKeyScope][] = [
    [schema.getQueryType(), 'retrieve'],
    [schema.getMutationType(), 'ingest'],
  ];
  for (const [type, needed] of roots) {
    for (const field of Object.values(type?.getFields() ?? {})) {
      const resolve: GraphQLFieldResolver<unknown, GatewayContext> = field.resolve ?? defaultFieldResolver;
      field.resolve = (root, args, context: GatewayContext, info) => {
        const credential = context.identity?.credential;
        if (credential?.kind === 'apiKey' && !credential.scopes.includes(needed)) {
          throw forbidden(
            `This API key lacks the ${needed.toUpperCase()} scope needed for ${info.fieldName}`,
          );
        }
        return resolve(root, args, context, info);
      };
    }
  }
}
