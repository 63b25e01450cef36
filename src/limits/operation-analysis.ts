import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  getArgumentValues,
  getNamedType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  isInterfaceType,
  isLeafType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** What one operation asks for, measured statically (before anything runs). */
export interface OperationShape {
  /** Deepest field nesting; `{ a { b } }` is 2. Introspection fields are not counted. */
  depth: number;
  /** Aliased fields, counted once per place a fragment is spread. */
  aliases: number;
  /** See `costOf`; 0 when computed without a cost model. */
  cost: number;
}

/**
 * Cost model: a field that returns an object costs 1 (its resolver may query), a scalar 0, unless `FIELD_COSTS`
 * says otherwise; a field with a page size (`first`, `k`, `input.k`, `input.ticketLimit`, or a list of `inputs`)
 * multiplies the cost of everything selected under it by that size. So `documents(first: 100) { nodes { id } }`
 * costs 1 + 100 × 1 and five aliased `retrieveChunks(k: 50)` cost five times one.
 */
export const FIELD_COSTS: Readonly<Record<string, number>> = {
  // Embeds the question (a provider call) and runs one or two searches.
  'Query.retrieveChunks': 10,
  // A retrieval, the customer's tickets and their orders.
  'Query.agentContext': 20,
  // EXPLAIN ANALYZE runs the vector search a second time.
  'RetrieveChunksResult.debug': 10,
  // Writes: chunking, embedding, a transaction.
  'Mutation.ingestDocument': 10,
  'Mutation.ingestDocuments': 10,
  'Mutation.ingestTicket': 10,
  'Mutation.ingestTickets': 10,
};

/** A page size without a value (e.g. `documents` without `first`) counts as the resolvers' default page. */
export const DEFAULT_PAGE_SIZE = 20;
/**
 * Sizes beyond what any field accepts (k ≤ 50, first ≤ 100, 100 inputs) are counted as 100: the resolver then
 * rejects the value itself with BAD_USER_INPUT, which tells the caller more than "too complex" would.
 */
export const MAX_PAGE_SIZE = 100;

const ZERO: OperationShape = { depth: 0, aliases: 0, cost: 0 };

/**
 * Measures an operation, expanding fragments. Each fragment is measured once and remembered, so a "fragment bomb"
 * (a fragment spreading another twice, ten levels down) costs this function linear time, not exponential.
 * `variables` must already be coerced (getVariableValues); without them, or without a schema type for a field,
 * page sizes fall back to their defaults.
 */
export function analyzeOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): OperationShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  const memo = new Map<string, OperationShape>();
  const inProgress = new Set<string>();

  const selectionSet = (type: GraphQLNamedType | undefined, set: SelectionSetNode): OperationShape => {
    let depth = 0;
    let aliases = 0;
    let cost = 0;
    for (const sel of set.selections) {
      let part: OperationShape;
      if (sel.kind === Kind.FIELD) part = field(type, sel);
      else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const cond = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : type;
        part = selectionSet(cond ?? undefined, sel.selectionSet);
      } else part = fragment(sel.name.value);
      depth = Math.max(depth, part.depth);
      aliases += part.aliases;
      cost += part.cost;
    }
    return { depth, aliases, cost };
  };

  const fragment = (name: string): OperationShape => {
    const known = memo.get(name);
    if (known) return known;
    const def = fragments.get(name);
    // Unknown fragments and cycles are reported by graphql-js's own rules; they add nothing here.
    if (!def || inProgress.has(name)) return ZERO;
    inProgress.add(name);
    const shape = selectionSet(schema.getType(def.typeCondition.name.value) ?? undefined, def.selectionSet);
    inProgress.delete(name);
    memo.set(name, shape);
    return shape;
  };

  const field = (parent: GraphQLNamedType | undefined, node: FieldNode): OperationShape => {
    const alias = node.alias ? 1 : 0;
    // __schema, __type, __typename: introspection is switched on or off as a whole (GRAPHQL_INTROSPECTION).
    if (node.name.value.startsWith('__')) return { depth: 0, aliases: alias, cost: 0 };
    const def =
      parent && (isObjectType(parent) || isInterfaceType(parent))
        ? parent.getFields()[node.name.value]
        : undefined;
    const type = def ? getNamedType(def.type) : undefined;
    const inner = node.selectionSet ? selectionSet(type, node.selectionSet) : ZERO;
    const base =
      FIELD_COSTS[`${parent?.name ?? '?'}.${node.name.value}`] ?? (type && isLeafType(type) ? 0 : 1);
    const size = def ? pageSize(def, node, variables) : 1;
    return { depth: inner.depth + 1, aliases: alias + inner.aliases, cost: base + size * inner.cost };
  };

  const root = schema.getRootType(operation.operation);
  return selectionSet(root ?? undefined, operation.selectionSet);
}

function pageSize(
  def: GraphQLField<unknown, unknown>,
  node: FieldNode,
  variables: Record<string, unknown> | undefined,
): number {
  if (def.args.length === 0) return 1;
  let args: Record<string, unknown>;
  try {
    args = getArgumentValues(def, node, variables ?? {});
  } catch {
    args = {}; // invalid arguments fail at execution with BAD_USER_INPUT; count the defaults meanwhile
  }
  const sizes: number[] = [];
  const consider = (v: unknown): void => {
    if (typeof v === 'number' && Number.isFinite(v)) sizes.push(v);
  };
  if (def.args.some((a) => a.name === 'first')) consider(args.first ?? DEFAULT_PAGE_SIZE);
  consider(args.k);
  const input = args.input;
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const i = input as Record<string, unknown>;
    consider(i.k);
    consider(i.ticketLimit);
  }
  if (Array.isArray(args.inputs)) consider(args.inputs.length);
  if (sizes.length === 0) return 1;
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.ceil(Math.max(...sizes))));
}
