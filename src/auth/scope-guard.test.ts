import 'reflect-metadata';
import {
  defaultFieldResolver,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from 'graphql';
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type GatewayContext } from '../graphql/context';
import { buildGatewaySchema } from '../graphql/schema';
import { type ApiKeyScope, type Identity } from './identity';

const keyWith = (scopes: ApiKeyScope[]): GatewayContext =>
  ({
    identity: {
      merchantId: 'm1',
      userId: 'apikey:k1',
      roles: [],
      principals: ['role:agent'],
      credential: { kind: 'apiKey', keyId: 'k1', scopes },
    } satisfies Identity,
  }) as unknown as GatewayContext;

/** What graphql-js passes a resolver, as far as a scope check reads it: a root field has no parent in its path. */
const infoFor = (fieldName: string, parent?: string) =>
  ({
    fieldName,
    path: { key: fieldName, prev: parent === undefined ? undefined : { key: parent, prev: undefined } },
  }) as GraphQLResolveInfo;

function refusal(type: GraphQLObjectType, field: string, context: GatewayContext): unknown {
  try {
    // The guard refuses before the resolver (whose instance this schema does not have) is reached.
    void type.getFields()[field].resolve!(undefined, {}, context, infoFor(field));
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('API key scopes on the built schema', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildGatewaySchema(new Map());
  });

  it('every root query field needs RETRIEVE and every root mutation field INGEST', () => {
    const cases: [GraphQLObjectType, ApiKeyScope, ApiKeyScope][] = [
      [schema.getQueryType()!, 'retrieve', 'ingest'],
      [schema.getMutationType()!, 'ingest', 'retrieve'],
    ];
    for (const [type, needed, other] of cases) {
      const fields = Object.keys(type.getFields());
      expect(fields.length).toBeGreaterThan(3);
      for (const field of fields) {
        const err = refusal(type, field, keyWith([other]));
        expect(err).toBeInstanceOf(DomainError);
        expect((err as DomainError).code).toBe(ErrorCode.FORBIDDEN);
        expect((err as DomainError).message).toContain(`${needed.toUpperCase()} scope needed for ${field}`);
        // With the scope, the guard lets the call through to the resolver (here: no instance registered).
        expect(String(refusal(type, field, keyWith([needed])))).toMatch(/No resolver instance registered/);
      }
    }
  });

  it('leaves the fields of results alone: a chunk field resolves synchronously, without a per-field wrapper', () => {
    const chunk = schema.getType('RetrievedChunk') as GraphQLObjectType;
    // type-graphql's own resolver, or graphql-js's default one where it installs none; either way, run it.
    const resolve = chunk.getFields().text.resolve ?? defaultFieldResolver;
    // A key without any scope: below the root, scopes are not checked (the old middleware answered a Promise here).
    const value: unknown = resolve({ text: 'refunds' }, {}, keyWith([]), infoFor('text', 'chunks'));
    expect(value).not.toBeInstanceOf(Promise);
    expect(value).toBe('refunds');
  });
});
