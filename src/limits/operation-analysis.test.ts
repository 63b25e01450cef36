import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, getVariableValues, Kind, type OperationDefinitionNode, parse } from 'graphql';
import { analyzeOperation, type OperationShape } from './operation-analysis';

// The checked-in contract is the schema the gateway serves (a test keeps it current).
const schema = buildSchema(fs.readFileSync(path.join(__dirname, '../../schema.graphql'), 'utf8'));

function shape(query: string, variables?: Record<string, unknown>): OperationShape {
  const document = parse(query);
  const op = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  )!;
  const coerced = variables
    ? getVariableValues(schema, op.variableDefinitions ?? [], variables).coerced
    : undefined;
  return analyzeOperation(schema, document, op, coerced);
}

describe('analyzeOperation', () => {
  it('counts depth through fragments and inline fragments, skipping introspection', () => {
    expect(shape('{ document(id: "a") { id } }').depth).toBe(2);
    expect(
      shape(`{ retrieveChunks(input: { query: "q" }) { ...R } }
        fragment R on RetrieveChunksResult { chunks { ... on RetrievedChunk { ticket { messages { body } } } } }`)
        .depth,
    ).toBe(5);
    expect(shape('{ __schema { types { fields { type { ofType { name } } } } } }').depth).toBe(0);
  });

  it('counts aliases once per spread of a fragment', () => {
    const s =
      shape(`{ a: document(id: "a") { ...F } b: document(id: "b") { ...F } c: document(id: "c") { id } }
      fragment F on SupportDocument { x: id y: title }`);
    expect(s.aliases).toBe(3 + 2 * 2);
  });

  it('multiplies by first, k, input.k, input.ticketLimit and inputs, from literals, variables and defaults', () => {
    // documents: 1 + first × (nodes 1 + pageInfo 1)
    expect(shape('{ documents(first: 50) { nodes { id } pageInfo { hasNextPage } } }').cost).toBe(1 + 50 * 2);
    expect(shape('{ documents { nodes { id } } }').cost).toBe(1 + 20 * 1); // default page
    const q =
      'query($in: RetrieveChunksInput!) { retrieveChunks(input: $in) { chunks { id document { id } } } }';
    expect(shape(q, { in: { query: 'x', k: 50 } }).cost).toBe(10 + 50 * (1 + 1));
    expect(shape(q, { in: { query: 'x' } }).cost).toBe(10 + 5 * 2); // schema default k = 5
    expect(shape(q).cost).toBe(10 + 1 * 2); // no variables: size unknown, counted once
    expect(
      shape('{ agentContext(input: { customerId: "c", question: "q", ticketLimit: 40 }) { tickets { id } } }')
        .cost,
    ).toBe(20 + 40 * 1);
    expect(
      shape(
        'mutation($i: [IngestDocumentInput!]!) { ingestDocuments(inputs: $i) { results { unchanged } } }',
        {
          i: Array.from({ length: 30 }, () => ({ title: 't', text: 'x', acl: [] })),
        },
      ).cost,
    ).toBe(10 + 30 * 1);
  });

  it('counts out-of-range sizes as 100, so the resolver reports the bad value itself', () => {
    expect(shape('{ documents(first: 100000) { nodes { id } } }').cost).toBe(1 + 100);
  });

  it('is linear in a fragment bomb (each fragment measured once)', () => {
    const levels = 40;
    let frags = '';
    for (let i = 0; i < levels; i++) {
      frags += ` fragment F${i} on SupportDocument { ...F${i + 1} ...F${i + 1} }`;
    }
    frags += ` fragment F${levels} on SupportDocument { x: id }`;
    const started = performance.now();
    const s = shape(`{ document(id: "a") { ...F0 } }${frags}`);
    expect(performance.now() - started).toBeLessThan(200);
    expect(s.aliases).toBe(2 ** levels); // what execution would produce: far over any limit
  });

  it('every checked-in client operation fits the default limits at its largest page size', () => {
    const dir = path.join(__dirname, '../../operations');
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.graphql'))) {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      const s = shape(text, {
        input: { query: 'q', k: 50, title: 't', text: 'x', acl: [] },
      });
      expect({ file, ok: s.depth <= 8 && s.aliases <= 30 && s.cost <= 1000 }).toEqual({ file, ok: true });
    }
  });
});
