import { type ApolloServerPlugin } from '@apollo/server';
import { getVariableValues, GraphQLError, type ValidationRule } from 'graphql';
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type Config } from '../config/config';
import { analyzeOperation } from './operation-analysis';

type QueryLimits = Pick<Config['api'], 'maxDepth' | 'maxAliases' | 'maxCost'>;

/** A limit error as a GraphQLError: the formatter takes the code from the DomainError inside. */
function limitError(code: ErrorCode, message: string, details: Record<string, unknown>): GraphQLError {
  return new GraphQLError(message, {
    originalError: new DomainError(code, message, details),
    extensions: { code, http: { status: 400 } },
  });
}

/**
 * Depth and aliases do not depend on variables, so they are validation rules: they run once per distinct query
 * text (Apollo caches validated documents) and a rejected document never reaches execution.
 */
export function queryShapeRules(limits: QueryLimits): ValidationRule[] {
  return [
    (context) => ({
      OperationDefinition(operation) {
        const shape = analyzeOperation(context.getSchema(), context.getDocument(), operation, undefined);
        if (shape.depth > limits.maxDepth) {
          context.reportError(
            limitError(
              ErrorCode.QUERY_TOO_DEEP,
              `The operation nests fields ${shape.depth} levels deep; the limit is ${limits.maxDepth}`,
              { depth: shape.depth, limit: limits.maxDepth },
            ),
          );
        }
        if (shape.aliases > limits.maxAliases) {
          context.reportError(
            limitError(
              ErrorCode.TOO_MANY_ALIASES,
              `The operation uses ${shape.aliases} aliases; the limit is ${limits.maxAliases}`,
              { aliases: shape.aliases, limit: limits.maxAliases },
            ),
          );
        }
      },
    }),
  ];
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
            return Promise.reject(
              limitError(
                ErrorCode.QUERY_TOO_COMPLEX,
                `The operation costs ${cost}; the limit is ${limits.maxCost}. Ask for fewer items (k, first) or split it`,
                { cost, limit: limits.maxCost },
              ),
            );
          }
          return Promise.resolve();
        },
      }),
  };
}
