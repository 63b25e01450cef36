import { GraphQLDateTime } from 'graphql-scalars';
import { type GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AgentContextResolver } from '../agent/agent-context.resolver';
import { ApiKeyResolver } from '../api-keys/api-key.resolver';
import { guardRootFieldsWithApiKeyScopes } from '../auth/scope-guard';
import { DocumentResolver } from '../documents/document.resolver';
import { IngestionResolver } from '../ingestion/ingestion.resolver';
import { OrderResolver } from '../orders/order.resolver';
import { CalibrationResolver } from '../retrieval/calibration.resolver';
import { RetrievalResolver, RetrievedChunkResolver } from '../retrieval/retrieval.resolver';
import { SynonymResolver } from '../synonyms/synonym.resolver';
import { TicketResolver } from '../tickets/ticket.resolver';

export const resolverClasses = [
  RetrievalResolver,
  RetrievedChunkResolver,
  CalibrationResolver,
  IngestionResolver,
  DocumentResolver,
  TicketResolver,
  OrderResolver,
  AgentContextResolver,
  ApiKeyResolver,
  SynonymResolver,
] as const;

/** Resolver class → its instance; a class is keyed by its constructor. */
export type ResolverClass = abstract new (...args: never[]) => object;
export type ResolverInstances = Map<ResolverClass, object>;

/** Resolvers are constructed by the composition root (app.ts) with their services; type-graphql asks this map. */
export async function buildGatewaySchema(instances: ResolverInstances): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [...resolverClasses],
    container: {
      get: (cls: ResolverClass) => {
        const instance = instances.get(cls);
        if (!instance) throw new Error(`No resolver instance registered for ${cls.name}`);
        return instance;
      },
    },
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    validate: false,
    emitSchemaFile: false,
  });
  guardRootFieldsWithApiKeyScopes(schema);
  return schema;
}

/** The checked-in schema.graphql is exactly this text. */
export function printGatewaySchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
