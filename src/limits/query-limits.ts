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
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type Config } from '../config/config';
import { analyzeOperation } from './operation-analysis';

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
            request.variables ?? {},
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
