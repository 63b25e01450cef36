import { type ApolloServerPlugin } from '@apollo/server';
import {
  type DocumentNode,
  getVariableValues,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  parse,
  visit,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type Config } from '../config/config';
import { analyzeOperation, MAX_PAGE_SIZE } from './operation-analysis';

type QueryLimits = Pick<Config['api'], 'maxDepth' | 'maxAliases' | 'maxSelections' | 'maxCost'>;

/**
 * Shape checks on the operation text, run in front of Apollo (http-guards.ts) — before graphql-js validates it.
 * They must come first: graphql-js's OverlappingFieldsCanBeMerged rule compares every pair of same-named fields,
 * so `{ document(id: "d7") { id id id … } }` in 20 KB validated for 21 s here, blocking the event loop; 100
 * repeated `document(id:) { id }` took 200 ms. Capping selections keeps validation in milliseconds.
 * Returns the refusal, or undefined when the text passes (or does not parse: Apollo then reports the syntax error).
 */
export function checkOperationShape(
  schema: GraphQLSchema,
  query: string,
  limits: QueryLimits,
): DomainError | undefined {
  const tooDeep = (): DomainError =>
    new DomainError(
      ErrorCode.QUERY_TOO_DEEP,
      `The operation nests too deeply to analyse; the limit is ${limits.maxDepth}`,
      { limit: limits.maxDepth },
    );
  let document: DocumentNode;
  try {
    document = parse(query, { noLocation: true });
  } catch (err) {
    // graphql-js parses recursively: thousands of nested braces overflow the stack before any depth check.
    return err instanceof RangeError ? tooDeep() : undefined;
  }
  try {
    for (const def of document.definitions) {
      if (def.kind !== Kind.OPERATION_DEFINITION) continue;
      const shape = analyzeOperation(schema, document, def, undefined);
      if (shape.depth > limits.maxDepth) {
        return new DomainError(
          ErrorCode.QUERY_TOO_DEEP,
          `The operation nests fields ${shape.depth} levels deep; the limit is ${limits.maxDepth}`,
          { depth: shape.depth, limit: limits.maxDepth },
        );
      }
      if (shape.aliases > limits.maxAliases) {
        return new DomainError(
          ErrorCode.TOO_MANY_ALIASES,
          `The operation uses ${shape.aliases} aliases; the limit is ${limits.maxAliases}`,
          { aliases: shape.aliases, limit: limits.maxAliases },
        );
      }
    }
    let selections = 0;
    const count = (): void => {
      selections++;
    };
    visit(document, { Field: count, FragmentSpread: count, InlineFragment: count });
    if (selections > limits.maxSelections) {
      return new DomainError(
        ErrorCode.TOO_MANY_SELECTIONS,
        `The operation text has ${selections} field selections and fragment spreads; the limit is ${limits.maxSelections}`,
        { selections, limit: limits.maxSelections },
      );
    }
  } catch (err) {
    if (err instanceof RangeError) return tooDeep();
    throw err;
  }
  return undefined;
}

/** Characters of operation text the shape-check cache keeps (keys), whatever the number of distinct texts. */
const SHAPE_CACHE_CHARS = 4_000_000;

/**
 * checkOperationShape, remembered per operation text. Its answer depends only on the text (the schema and the
 * limits are fixed for a gateway's life), and clients send the same few texts again and again: parsing and
 * measuring them on every request was ~0.3 ms of CPU per retrieval (docs/benchmarks/gateway-profile.md). Refusals
 * are remembered too, so a hostile text repeated costs its analysis once. Bounded by the characters of the texts
 * kept (each at most GRAPHQL_MAX_OPERATION_CHARS), least recently used first out.
 */
export function cachedShapeCheck(
  schema: GraphQLSchema,
  limits: QueryLimits,
): (query: string) => DomainError | undefined {
  const cache = new LRUCache<string, { refusal: DomainError | undefined }>({
    maxSize: SHAPE_CACHE_CHARS,
    sizeCalculation: (_value, key) => Math.max(1, key.length),
  });
  return (query) => {
    const known = cache.get(query);
    if (known) return known.refusal;
    const refusal = checkOperationShape(schema, query, limits);
    cache.set(query, { refusal });
    return refusal;
  };
}

/**
 * Lists longer than this are cut to it before the variables are coerced for the cost: no page size counts beyond
 * MAX_PAGE_SIZE, so the cost is the same, and a 1,536-float `embedding` is not coerced twice per request (execution
 * coerces the whole value again and rejects what does not coerce).
 */
const COST_LIST_ITEMS = MAX_PAGE_SIZE + 1;

/** The request's variables with every list cut to COST_LIST_ITEMS items (a copy where anything was cut). */
export function variablesForCost(value: unknown, depth = 0): unknown {
  // JSON from body-parser: plain objects and arrays. Deeper than any input type nests is left as it is.
  if (value === null || typeof value !== 'object' || depth > 32) return value;
  if (Array.isArray(value)) {
    const list = value as unknown[];
    const items = list.length > COST_LIST_ITEMS ? list.slice(0, COST_LIST_ITEMS) : list;
    let copy: unknown[] | undefined = items === list ? undefined : items;
    for (let i = 0; i < items.length; i++) {
      const item: unknown = items[i];
      const cut = variablesForCost(item, depth + 1);
      if (cut !== item) (copy ??= [...items])[i] = cut;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const cut = variablesForCost(item, depth + 1);
    if (cut !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = cut;
  }
  return copy ?? value;
}

/**
 * The cost depends on the variables (`k: $k`), so it is checked per request once the operation is known, before
 * anything executes. Variables that do not coerce are left to execution, which rejects them with BAD_USER_INPUT.
 */
export function queryCostPlugin(limits: QueryLimits): ApolloServerPlugin {
  return {
    requestDidStart: () =>
      Promise.resolve({
        didResolveOperation: ({ schema, document, operation, request }) => {
          if (!operation) return Promise.resolve();
          let variables: Record<string, unknown> | undefined;
          const coerced = getVariableValues(
            schema,
            operation.variableDefinitions ?? [],
            variablesForCost(request.variables ?? {}) as Record<string, unknown>,
            { maxErrors: 1 },
          );
          if (coerced.coerced) variables = coerced.coerced;
          const { cost } = analyzeOperation(schema, document, operation, variables);
          if (cost > limits.maxCost) {
            const message = `The operation costs ${cost}; the limit is ${limits.maxCost}. Ask for fewer items (k, first) or split it`;
            // The formatter takes the code from the DomainError inside.
            return Promise.reject(
              new GraphQLError(message, {
                originalError: new DomainError(ErrorCode.QUERY_TOO_COMPLEX, message, {
                  cost,
                  limit: limits.maxCost,
                }),
                extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, http: { status: 400 } },
              }),
            );
          }
          return Promise.resolve();
        },
      }),
  };
}
