import { fromSql } from 'pgvector';
import { vectorFromBinary, vectorParam } from '../src/db/vector-binary';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { float4OfText, vectorArrayParameter, vectorTypeOid } from '../src/chunks/vector-parameter';
import { startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * Vectors sent as a binary `vector[]` (src/chunks/vector-parameter.ts) must be stored exactly as their text form
 * was: corpora written before and after the change are compared with each other and with query vectors.
 */
describe('binary vector parameters store what the text form stored, bit for bit', () => {
  // Midpoints between two floats, where rounding the double (Math.fround) and rounding its decimal (strtof)
  // disagree or tie; subnormal float4s; plain values.
  const tricky = [
    1 + 2 ** -24,
    -(1 + 2 ** -24),
    1 + 3 * 2 ** -24,
    0.5 + 2 ** -25,
    0.1 + 2 ** -28,
    2 ** -150,
    3 * 2 ** -150,
    2 ** -149,
    0.1,
    -0.30000000000000004,
    1,
    0,
    1e-30,
  ];

  it('rounds midpoints the way the decimal text rounds', () => {
    expect(float4OfText(1 + 2 ** -24)).toBe(1 + 2 ** -23); // "1.0000000596046448" is above the midpoint
    expect(float4OfText(-(1 + 2 ** -24))).toBe(-(1 + 2 ** -23));
    expect(Math.fround(1 + 2 ** -24)).toBe(1); // ties to even: a plain float conversion would store another value
    expect(float4OfText(1 + 3 * 2 ** -24)).toBe(1 + 2 ** -23); // "1.0000001788139343" is below it
    expect(float4OfText(0.1)).toBe(Math.fround(0.1));
  });

  describe('against the database', () => {
    let t: TestGateway;
    beforeAll(async () => {
      t = await startTestGateway();
    });
    afterAll(async () => {
      await t.close();
    });

    it('stores tricky values and real embeddings identically through both forms', async () => {
      const embedder = new LocalHashEmbedder(1536);
      const vectors: number[][] = [
        ...tricky.map((x) => [x, -x, x / 3, 1]),
        ...['refund policy', 'Returns › Damaged items\nSend a photo.', '', 'ＡＢＣ 123'].map((s) =>
          embedder.embedOne(s),
        ),
        ...Array.from({ length: 50 }, (_, i) =>
          Array.from({ length: 64 }, (_, j) => Math.sin(i * 64 + j) / 7),
        ),
      ];
      const rows = await t.db.dataSource.transaction(async (m) => {
        const oid = await vectorTypeOid(m);
        return m.query<{ same: boolean; binary: string; text: string }[]>(
          `SELECT b = t::vector AS same, b::text AS binary, t AS text
             FROM unnest($1::vector[], $2::text[]) AS u (b, t)`,
          [vectorArrayParameter(vectors, oid), vectors.map((v) => `[${v.join(',')}]`)],
        );
      });
      expect(rows).toHaveLength(vectors.length);
      for (const r of rows)
        expect({ same: r.same, binary: r.binary }).toEqual({ same: true, binary: r.binary });
    });

    it('reads stored vectors back in binary (vector_send) as the float4s their text gives', async () => {
      const embedder = new LocalHashEmbedder(1536);
      const vectors = [
        ...tricky.map((x) => [x, -x, x / 3, 1, -0]),
        ...['refund policy', 'Returns › Damaged items\nSend a photo.'].map((s) => embedder.embedOne(s)),
      ];
      const rows = await t.db.dataSource.query<{ b: Uint8Array; t: string }[]>(
        `SELECT vector_send(v) AS b, v::text AS t FROM unnest($1::text[]) AS u (s), LATERAL (SELECT s::vector AS v) x`,
        [vectors.map((v) => `[${v.join(',')}]`)],
      );
      expect(rows).toHaveLength(vectors.length);
      for (const r of rows) {
        const read = vectorFromBinary(r.b);
        // The float4s themselves; the text gave their shortest decimals, which round to the same float4s.
        expect(read).toEqual((fromSql(r.t) as number[]).map(Math.fround));
        expect(vectorParam(read).equals(Buffer.from(r.b))).toBe(true); // written back bit for bit, -0 too
      }
      expect(() => vectorFromBinary(new Uint8Array([0, 2, 0, 0, 0, 0]))).toThrow(/not a binary vector/);
    });
  });
});
