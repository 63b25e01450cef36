import { fromSql } from 'pgvector';
import { principalsFor } from '../src/auth/identity';
import { type Identity } from '../src/auth/identity';
import { VectorIndexRepository } from '../src/vector-index/vector-index.repository';
import { createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';
import { nativeTestUrl } from './support/test-env';

/**
 * The dedicated HNSW index is a frozen graph (chunks up to a bound id) plus an exact tail (docs/RETRIEVAL.md):
 * writes after the build stay out of the graph, retrieval still returns the exact top k over graph and tail with
 * min(k, readable) rows and the ACL applied, deleted covered rows vanish, and a replacement graph is swapped in
 * while readers run. Answers are checked against an exact top k computed here in JavaScript from the stored
 * vectors. Thresholds scaled down: exact up to 100 readable rows, an index from 300 chunks, a tail of 60.
 */
const TOPICS = [
  'refund return money back card statement credit',
  'password reset login two factor account locked',
  'shipping delivery parcel tracking carrier courier',
  'warranty defect repair replacement broken faulty',
  'invoice billing tax receipt payment charge',
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Row {
  id: string;
  acl: string[];
  embedding: number[];
}

function exactTopK(rows: Row[], principals: readonly string[], query: number[], k: number): string[] {
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  const qn = Math.sqrt(dot(query, query));
  return rows
    .filter((r) => r.acl.some((p) => principals.includes(p)))
    .map((r) => ({
      id: r.id,
      d: 1 - dot(r.embedding, query) / (Math.sqrt(dot(r.embedding, r.embedding)) * qn),
    }))
    .sort((a, b) => a.d - b.d || Number(a.id) - Number(b.id))
    .slice(0, k)
    .map((r) => r.id);
}

describe('dedicated index: frozen graph + exact tail', () => {
  let t: TestGateway;
  let merchant: string;
  const repo = new VectorIndexRepository();
  const who = (userId: string, role: string): Identity => ({
    merchantId: merchant,
    userId,
    roles: [role],
    principals: principalsFor(userId, [role]),
  });
  const agent = () => who('agent', 'agent');
  const contractor = () => who('con', 'contractor');

  async function write(from: number, to: number, seed: number): Promise<void> {
    const rand = rng(seed);
    for (let d = from; d < to; d++) {
      const words = TOPICS[d % TOPICS.length].split(' ');
      const pick = () => words[Math.floor(rand() * words.length)];
      const text = [0, 1, 2, 3]
        .map(
          (s) =>
            `## Part ${s} ${pick()}\n\nItem ${d}-${s} covers ${pick()} and ${pick()} for ${pick()} cases.`,
        )
        .join('\n\n');
      // Contractors read half of the documents: above the exact threshold, so they take the HNSW path too.
      const acl = d % 2 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'];
      await t.services.ingestion.writeDocument(merchant, { id: `doc-${d}`, title: `Doc ${d}`, text, acl });
    }
  }

  async function rows(): Promise<Row[]> {
    const found: { id: string; acl: string[]; e: string }[] = await t.db.dataSource.query(
      `SELECT id::text AS id, acl, embedding::text AS e FROM document_chunks WHERE merchant_id = $1`,
      [merchant],
    );
    return found.map((r) => ({ id: r.id, acl: r.acl, embedding: fromSql(r.e) as number[] }));
  }

  const registered = async () => (await repo.registered(t.db.dataSource.manager, merchant, 1536))!;
  const predicate = async (indexName: string): Promise<string> => {
    const [r]: { p: string }[] = await t.db.dataSource.query(
      `SELECT pg_get_expr(i.indpred, i.indrelid) AS p
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1`,
      [indexName],
    );
    return r.p;
  };
  const retrieve = (identity: Identity, embedding: number[], k: number, explain = false) =>
    t.services.retrieval.retrieve(t.services.sessions.open(identity), {
      query: '',
      embedding,
      k,
      mode: 'vector',
      explain,
    });

  /** Asks with tail and covered vectors as queries; every answer must be the exact one (recall >= 0.99 overall). */
  async function checkAnswers(queries: Row[], expectFirst: boolean): Promise<void> {
    const all = await rows();
    let found = 0;
    let expected = 0;
    for (const identity of [agent(), contractor()]) {
      const readable = new Set(
        all.filter((r) => r.acl.some((p) => identity.principals.includes(p))).map((r) => r.id),
      );
      for (const q of queries) {
        for (const k of [1, 10, 40]) {
          const result = await retrieve(identity, q.embedding, k);
          expect(result.strategy).toBe('hnsw');
          expect(result.chunks).toHaveLength(Math.min(k, readable.size));
          for (const c of result.chunks) expect(readable.has(c.id)).toBe(true);
          if (expectFirst && readable.has(q.id)) expect(result.chunks[0].id).toBe(q.id);
          const exact = exactTopK(all, identity.principals, q.embedding, k);
          const got = new Set(result.chunks.map((c) => c.id));
          found += exact.filter((id) => got.has(id)).length;
          expected += exact.length;
        }
      }
    }
    expect(found / expected).toBeGreaterThanOrEqual(0.99);
  }

  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        RETRIEVAL_EXACT_SCAN_MAX_ROWS: '100',
        RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '300',
        RETRIEVAL_DEDICATED_INDEX_TAIL_MIN_ROWS: '60',
        RETRIEVAL_DEDICATED_INDEX_TAIL_PERCENT: '0',
        RETRIEVAL_INDEX_AUTOBUILD: 'false',
      },
    });
    merchant = await createTestMerchant(t, 'tail');
    await write(0, 90, 3); // 360 chunks
    const built = await t.services.indexes.maintain({ merchantId: merchant });
    expect(built.map((b) => b.outcome)).toEqual(['created']);
  }, 300_000);
  afterAll(async () => {
    await t.close();
  });

  it('fixes the bound in the index predicate; chunks written after the build get larger ids, outside it', async () => {
    const reg = await registered();
    const [{ max }]: { max: string }[] = await t.db.dataSource.query(
      `SELECT max(id)::text AS max FROM document_chunks WHERE merchant_id = $1`,
      [merchant],
    );
    expect(reg.maxChunkId).toBe(max);
    expect(reg.coveredRows).toBe(360);
    expect(await predicate(reg.indexName)).toContain(`(id <= ${max})`);

    await write(90, 100, 4); // 40 tail chunks
    const [{ min }]: { min: string }[] = await t.db.dataSource.query(
      `SELECT min(id)::text AS min FROM document_chunks WHERE merchant_id = $1 AND document_id = ANY($2::text[])`,
      [merchant, Array.from({ length: 10 }, (_, i) => `doc-${90 + i}`)],
    );
    expect(BigInt(min)).toBeGreaterThan(BigInt(max));
    expect(await repo.tailRows(t.db.dataSource.manager, merchant, 1536, 1000)).toBe(40);
    // 40 chunks: within the bound of 60, nothing to rebuild.
    expect(
      await repo.merchantsNeedingRebuild(t.db.dataSource.manager, { minRows: 60, percent: 0 }, merchant),
    ).toEqual([]);
  });

  it('returns the exact top k over graph and tail, min(k, readable) rows, for an agent and a contractor', async () => {
    const all = await rows();
    const bound = BigInt((await registered()).maxChunkId!);
    const tail = all.filter((r) => BigInt(r.id) > bound).slice(0, 6);
    const covered = all.filter((r) => BigInt(r.id) <= bound).slice(0, 4);
    expect(tail).toHaveLength(6);
    await checkAnswers([...tail, ...covered], true);
  });

  it('shows the tail in the plan of the statement it runs', async () => {
    const [q] = await rows();
    const result = await retrieve(agent(), q.embedding, 10, true);
    const plan = result.plan!.join('\n');
    expect(plan).toContain('hnsw_tail');
    expect(plan).toMatch(
      new RegExp(`Index Scan using ${(await registered()).indexName}(?:_\\d+)? on document_chunks`),
    );
    // The tail through the (merchant_id, id) btree (one node: its own index, in the prepared statement's generic
    // plan the merchant a parameter; Citus: the primary key, the merchant a value).
    expect(plan).toMatch(/Index Cond: \(\(merchant_id = (?:'[^']+'::text|\$\d+)\) AND \(id > \d+\)\)/);
  });

  it('drops deleted covered rows from the answers', async () => {
    const bound = BigInt((await registered()).maxChunkId!);
    const covered = (await rows()).find((r) => BigInt(r.id) <= bound)!;
    const before = await retrieve(agent(), covered.embedding, 10);
    expect(before.chunks[0].id).toBe(covered.id);
    const doc = before.chunks[0].documentId!;
    expect(await t.services.documents.delete(t.services.sessions.open(who('ada', 'admin')), doc)).toBe(true);
    const after = await retrieve(agent(), covered.embedding, 10);
    expect(after.chunks).toHaveLength(10);
    expect(after.chunks.map((c) => c.documentId)).not.toContain(doc);
    // As sets: float4 distances in SQL and doubles here may order near-ties differently.
    expect(new Set(after.chunks.map((c) => c.id))).toEqual(
      new Set(exactTopK(await rows(), agent().principals, covered.embedding, 10)),
    );
  });

  it('rebuilds the graph once the tail outgrows its bound and swaps it in while readers run', async () => {
    await write(100, 110, 5); // tail of 80 chunks: past the bound of 60
    const old = await registered();
    expect(
      await repo.merchantsNeedingRebuild(t.db.dataSource.manager, { minRows: 60, percent: 0 }, merchant),
    ).toEqual([{ merchantId: merchant, dimensions: 1536, tailRows: 61 }]);
    const all = await rows();
    const queries = [all[3], all[all.length - 2], all[all.length - 40]];
    const expected = queries.map((q) => exactTopK(all, agent().principals, q.embedding, 10));
    let done = false;
    const errors: unknown[] = [];
    let reads = 0;
    let found = 0;
    // On the embedded database everything shares one connection: the readers interleave with the build's
    // statements rather than running beside them.
    const readers = Array.from({ length: nativeTestUrl() ? 3 : 1 }, async () => {
      while (!done) {
        for (const [i, q] of queries.entries()) {
          try {
            const r = await retrieve(agent(), q.embedding, 10);
            expect(r.chunks).toHaveLength(10);
            reads++;
            const got = new Set(r.chunks.map((c) => c.id));
            found += expected[i].filter((id) => got.has(id)).length;
          } catch (err) {
            errors.push(err);
            if (errors.length > 20) done = true;
          }
        }
      }
    });
    const reports = await t.services.indexes.maintain({ merchantId: merchant }).finally(() => {
      done = true;
    });
    await Promise.all(readers);
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(found / (reads * 10)).toBeGreaterThanOrEqual(0.99);
    expect(reports.map((r) => r.outcome)).toEqual(['rebuilt']);

    const now = await registered();
    const [{ max }]: { max: string }[] = await t.db.dataSource.query(
      `SELECT max(id)::text AS max FROM document_chunks WHERE merchant_id = $1`,
      [merchant],
    );
    expect(now.indexName).not.toBe(old.indexName);
    expect(now.maxChunkId).toBe(max);
    expect(now.nextIndexName).toBeNull();
    expect(now.retiredIndexName).toBeNull();
    expect(await predicate(now.indexName)).toContain(`(id <= ${max})`);
    const gone: unknown[] = await t.db.dataSource.query(`SELECT 1 FROM pg_class WHERE relname = $1`, [
      old.indexName,
    ]);
    expect(gone).toEqual([]);
    expect(await repo.tailRows(t.db.dataSource.manager, merchant, 1536, 1000)).toBe(0);
    await checkAnswers(queries, true);
  }, 120_000);
});
