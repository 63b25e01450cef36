import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServices } from '../../src/services';
import { type Config, loadConfig } from '../../src/config/config';
import { type Database, openDatabase } from '../../src/db/database';
import { createEmbedder } from '../../src/embeddings/embedder.factory';
import { buildGatewayScript, type GatewayProcess, spawnGateway } from '../support/gateway-process';
import { nativeTestUrl, TEMPLATE_DIR, TEMPLATE_ENV } from '../support/test-env';
import { type TestIdentity } from '../support/test-gateway';

/**
 * `kill -9` of the gateway while it ingests a large document (130 chunks: two INSERT batches), at
 * moments spread from "still chunking" to "already committed", many times; after every kill the data is read
 * back and must show the document either whole (the row and all chunks of ONE text version, in the active corpus
 * version) or not at all, never a mix or a partial set. A write the gateway acknowledged must have survived.
 *
 * Runs on the pass's backend: native PostgreSQL (TEST_DATABASE_URL: the server keeps running, the killed
 * gateway's transaction is rolled back when its connection drops) or the embedded PGlite data directory (the
 * database dies with the process: the question is whether PGlite's files recover to a consistent state, see
 * docs/FAULTS.md).
 */
/** Native kills are cheap (the server keeps running); each embedded kill also reopens PGlite twice. */
const ITERATIONS = nativeTestUrl() ? 12 : 8;
const SECTIONS = 130;
const INGEST = `mutation($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount } }`;
const RETRIEVE = `query($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { documentId } } }`;

/** Every section carries the text version's marker, so each chunk tells which version it belongs to. */
function documentText(version: number): string {
  const sections: string[] = [];
  for (let s = 0; s < SECTIONS; s++) {
    sections.push(
      `## Section ${s}\n\nRevision R${version}R of section ${s}. ` +
        `Refunds for orders in region ${s % 17} are processed within ${(s % 9) + 2} business days once the ` +
        `parcel reaches the warehouse; store credit is offered first when the order used a promotion code. ` +
        `End of revision R${version}R.`,
    );
  }
  return sections.join('\n\n');
}

interface Observed {
  state: 'absent' | 'whole';
  version?: number;
}

const backend = nativeTestUrl() ? 'native PostgreSQL' : 'embedded PGlite';

describe(`SIGKILL while ingesting a document (${backend})`, () => {
  let build: ReturnType<typeof buildGatewayScript>;
  let gatewayEnv: Record<string, string>;
  let config: Config;
  let dataDir: string | undefined;
  let merchantId: string;
  let admin: TestIdentity;
  /** Native: one connection for the whole test. Embedded: opened between runs (PGlite allows one process). */
  let nativeDb: Database | undefined;
  let gw: GatewayProcess | undefined;

  beforeAll(async () => {
    build = buildGatewayScript();
    merchantId = `kill-${process.pid}-${Date.now().toString(36)}`;
    admin = { merchantId, userId: 'ada', roles: ['admin', 'agent'] };
    const url = nativeTestUrl();
    if (url) {
      gatewayEnv = { DATABASE_URL: url };
    } else {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-kill-'));
      fs.cpSync(process.env[TEMPLATE_ENV] ?? TEMPLATE_DIR, dataDir, { recursive: true });
      gatewayEnv = { PGLITE_DATA_DIR: dataDir };
    }
    config = loadConfig({ NODE_ENV: 'test', ...gatewayEnv });
    await withDb(async (db) => {
      await createServices(config, db, createEmbedder(config)).merchants.provision({
        id: merchantId,
        name: 'SIGKILL test',
      });
    });
  }, 60_000);

  afterAll(async () => {
    await gw?.kill9();
    if (nativeDb) {
      await nativeDb.dataSource.query(`DELETE FROM merchants WHERE id = $1`, [merchantId]);
      await nativeDb.close();
    }
    build?.remove();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    if (config.databaseUrl !== undefined) {
      nativeDb ??= await openDatabase(config, { migrate: false, poolSize: 2 });
      return fn(nativeDb);
    }
    const db = await openDatabase(config, { migrate: false });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }

  /** What is stored for one document, checked for consistency; throws on any partial or mixed state. */
  async function observe(db: Database, documentId: string, expectedChunks: number): Promise<Observed> {
    const ds = db.dataSource;
    const rows = await ds.query<{ body: string }[]>(
      `SELECT body FROM support_documents WHERE merchant_id = $1 AND id = $2`,
      [merchantId, documentId],
    );
    const chunks = await ds.query<{ chunk_index: number; chunk_text: string; state: string }[]>(
      `SELECT c.chunk_index, c.chunk_text, v.state
         FROM document_chunks c
         JOIN corpus_versions v ON v.merchant_id = c.merchant_id AND v.version = c.corpus_version
        WHERE c.merchant_id = $1 AND c.document_id = $2
        ORDER BY c.chunk_index`,
      [merchantId, documentId],
    );
    if (rows.length === 0) {
      expect({ documentId, chunksWithoutDocument: chunks.length }).toEqual({
        documentId,
        chunksWithoutDocument: 0,
      });
      return { state: 'absent' };
    }
    const version = Number(/R(\d+)R/.exec(rows[0].body)![1]);
    const chunkVersions = new Set(chunks.map((c) => /R(\d+)R/.exec(c.chunk_text)?.[1] ?? 'none'));
    expect({
      documentId,
      chunkCount: chunks.length,
      indexes: chunks.every((c, i) => c.chunk_index === i),
      versions: [...chunkVersions],
      corpus: [...new Set(chunks.map((c) => c.state))],
    }).toEqual({
      documentId,
      chunkCount: expectedChunks,
      indexes: true,
      versions: [String(version)],
      corpus: ['active'],
    });
    return { state: 'whole', version };
  }

  /** Native only: true once the gateway's connection holds a transaction that has written a row. */
  async function writeTransactionOpen(db: Database): Promise<boolean> {
    const r = await db.dataSource.query<unknown[]>(
      `SELECT 1 FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'support-rag-gateway'
          AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL`,
    );
    return r.length > 0;
  }

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const debug = (msg: string): void => {
    if (process.env.FAULTS_DEBUG)
      process.stderr.write(`[faults ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
  };

  it(`leaves each document whole or absent after ${ITERATIONS} kills at varying moments`, async () => {
    // A complete, unkilled ingestion first: the document's chunk count and how long a run takes.
    gw = await spawnGateway(build.main, gatewayEnv);
    const started = Date.now();
    const first = await gw.gql<{ ingestDocument: { chunkCount: number } }>(
      INGEST,
      { input: { id: 'big', title: 'Refund handbook', text: documentText(0), acl: ['role:agent'] } },
      admin,
    );
    const fullRunMs = Date.now() - started;
    debug(`full run ${fullRunMs} ms`);
    expect(first.errors).toBeUndefined();
    const expectedChunks = first.data!.ingestDocument.chunkCount;
    expect(expectedChunks).toBeGreaterThan(100);
    await gw.kill9();

    const outcomes: string[] = [];
    let delay = Math.round(fullRunMs * 0.7);
    let committedBig = 0;
    for (let i = 1; i <= ITERATIONS; i++) {
      // Even runs replace the existing document (old or new version afterwards), odd runs create one (absent or whole).
      const documentId = i % 2 === 0 ? 'big' : `new-${i}`;
      debug(`#${i} spawning`);
      gw = await spawnGateway(build.main, gatewayEnv);
      debug(`#${i} ingesting ${documentId}`);
      const request = gw
        .gql(
          INGEST,
          { input: { id: documentId, title: 'Refund handbook', text: documentText(i), acl: ['role:agent'] } },
          admin,
        )
        .then(
          (res) => (res.errors ? `error ${res.errors[0].extensions?.code}` : 'acknowledged'),
          () => 'cut off',
        );
      let acknowledged = false;
      void request.then((r) => (acknowledged = r === 'acknowledged'));
      let how: string;
      if (nativeDb && i % 3 === 0) {
        // Inside the write transaction for sure: wait until it has written, then a little more.
        const deadline = Date.now() + fullRunMs * 3;
        let open = false;
        while (!(open = await writeTransactionOpen(nativeDb)) && Date.now() < deadline) await sleep(2);
        await sleep((i * 7) % 40);
        how = open ? 'in-transaction' : 'transaction never seen';
      } else {
        // Closes in on the commit: later after a kill that came too early, earlier after one that came too
        // late, so most kills land in the write transaction or around its commit whatever the machine's speed.
        await sleep(delay);
        how = `${delay} ms`;
      }
      const ackBeforeKill = acknowledged;
      await gw.kill9();
      const requestEnd = await request;
      debug(`#${i} killed at ${how}: ${requestEnd}; inspecting`);
      expect(['acknowledged', 'cut off']).toContain(requestEnd);
      const seen = await withDb((db) => observe(db, documentId, expectedChunks));
      debug(`#${i} ${JSON.stringify(seen)}`);
      if (ackBeforeKill) {
        // Acknowledged before the kill: it must have survived.
        expect({ i, seen }).toEqual({ i, seen: { state: 'whole', version: i } });
      }
      if (documentId === 'big') {
        // The previous committed version or this one, nothing else.
        expect([committedBig, i]).toContain(seen.version);
        committedBig = seen.version!;
      } else if (seen.state === 'whole') {
        expect(seen.version).toBe(i);
      }
      if (how.endsWith(' ms')) {
        const committed = seen.state === 'whole' && seen.version === i;
        delay = Math.round(delay * (committed ? 0.8 : 1.25) + ((i * 37) % 100));
      }
      outcomes.push(
        `#${i} ${documentId} kill@${how}: ${requestEnd}, ${seen.state}${seen.version !== undefined ? ` v${seen.version}` : ''}`,
      );
    }
    console.log(
      `[faults] ${backend}, full run ${fullRunMs} ms, ${expectedChunks} chunks:\n  ${outcomes.join('\n  ')}`,
    );

    // After all that, a restarted gateway serves and ingests normally.
    gw = await spawnGateway(build.main, gatewayEnv);
    const after = await gw.gql<{ ingestDocument: { chunkCount: number } }>(
      INGEST,
      { input: { id: 'big', title: 'Refund handbook', text: documentText(99), acl: ['role:agent'] } },
      admin,
    );
    expect(after.errors).toBeUndefined();
    const found = await gw.gql<{ retrieveChunks: { chunks: { documentId: string }[] } }>(
      RETRIEVE,
      { input: { query: 'revision R99R section 7 refunds', k: 3 } },
      admin,
    );
    expect(found.errors).toBeUndefined();
    expect(found.data!.retrieveChunks.chunks.map((c) => c.documentId)).toContain('big');
    await gw.stop();
    const final = await withDb((db) => observe(db, 'big', expectedChunks));
    expect(final).toEqual({ state: 'whole', version: 99 });
  }, 300_000);
});
