import { GraphQLJSON } from 'graphql-scalars';

/** `JSON` in the schema: any JSON value. Inputs that must be objects are checked by the service. */
export const JSONScalar = GraphQLJSON;

export type JsonObject = Record<string, unknown>;
