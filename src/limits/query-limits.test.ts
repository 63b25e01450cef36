import fs from 'node:fs';
import path from 'node:path';
import { buildSchema } from 'graphql';
import { ErrorCode } from '../common/errors/error-code';
import { cachedShapeCheck, checkOperationShape, variablesForCost } from './query-limits';

const schema = buildSchema(fs.readFileSync(path.join(__dirname, '../../schema.graphql'), 'utf8'));
const limits = { maxDepth: 12, maxAliases: 3, maxSelections: 500, maxCost: 1000 };

describe('cachedShapeCheck', () => {
  it('answers as checkOperationShape does, refusals included, the first time and from memory', () => {
    const check = cachedShapeCheck(schema, limits);
    const fine = 'query Q($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { id } } }';
    const aliased =
      '{ a: document(id: "a") { id } b: document(id: "b") { id } c: document(id: "c") { id } d: document(id: "d") { id } }';
    for (let round = 0; round < 2; round++) {
      expect(check(fine)).toBeUndefined();
      expect(check(fine)).toEqual(checkOperationShape(schema, fine, limits));
      const refusal = check(aliased);
      expect(refusal?.code).toBe(ErrorCode.TOO_MANY_ALIASES);
      expect(refusal?.message).toBe(checkOperationShape(schema, aliased, limits)?.message);
    }
  });
});

describe('variablesForCost', () => {
  it('cuts long lists to what a page size can count, copying only what it cuts', () => {
    const embedding = Array.from({ length: 1536 }, (_, i) => i / 1536);
    const input = { query: '', k: 7, embedding, filter: { documentIds: ['a', 'b'] } };
    const vars = { input };
    const cut = variablesForCost(vars) as { input: typeof input };
    expect(cut).not.toBe(vars);
    expect(cut.input.embedding).toHaveLength(101);
    expect(cut.input.k).toBe(7);
    expect(cut.input.filter).toBe(input.filter); // untouched parts are shared
    expect(input.embedding).toHaveLength(1536); // the request's own variables are never changed
    const short = { input: { query: 'q', k: 5 } };
    expect(variablesForCost(short)).toBe(short);
  });

  it('keeps a list of up to 101 inputs whole, and cuts nested long lists inside list items', () => {
    const inputs = Array.from({ length: 101 }, () => ({
      title: 't',
      tags: Array.from({ length: 300 }, () => 'x'),
    }));
    const cut = variablesForCost({ inputs }) as { inputs: { tags: string[] }[] };
    expect(cut.inputs).toHaveLength(101);
    expect(cut.inputs[100].tags).toHaveLength(101);
    expect(inputs[100].tags).toHaveLength(300);
  });
});
