import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DomainError } from '../src/common/errors/domain-error';
import { loadFolder, type LoaderTargets } from '../src/ingestion/folder-loader';
import { startTestGateway, type TestGateway } from './support/test-gateway';

describe('loading a folder of documents (npm run load)', () => {
  let t: TestGateway;
  let dir: string;
  let merchant: string;

  const write = (name: string, content: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  };

  beforeAll(async () => {
    t = await startTestGateway();
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-load-'));
    merchant = `load-${crypto.randomBytes(4).toString('hex')}`;
    write(
      'refunds.md',
      '---\nid: r1\ntitle: Refunds\nacl: [role:agent]\nmetadata: { category: refund }\n---\n## Window\n\n30 days.\n\n## Method\n\nOriginal card.',
    );
    write('faq/shipping.md', '# Shipping FAQ\n\nParcels leave within two days.');
    write('notes.txt', '---\nacl: [role:agent, u7]\n---\nPlain text note.');
    write('ignored.pdf', 'not a text file');
    write('.hidden.md', 'hidden files are skipped');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterAll(async () => {
    await t.close();
  });

  it('creates the merchant and ingests every .md/.txt file with front matter and defaults', async () => {
    const progress: number[] = [];
    const s = await loadFolder(t.services, merchant, dir, {
      merchantName: 'Loaded Co',
      onProgress: (done) => progress.push(done),
    });
    expect(s).toMatchObject({
      files: 3,
      created: 3,
      updated: 0,
      skipped: 0,
      chunks: 4,
      embedded: 4,
      reused: 0,
    });
    expect(progress).toEqual([1, 2, 3]);
    expect(s.warnings).toEqual([expect.stringMatching(/^faq\/shipping\.md: .*nobody can read/)]);
    const docs = await t.db.dataSource.query<
      { id: string; title: string; acl: string[]; metadata: object }[]
    >(`SELECT id, title, acl, metadata FROM support_documents WHERE merchant_id = $1 ORDER BY id`, [
      merchant,
    ]);
    expect(docs).toEqual([
      { id: 'notes', title: 'notes', acl: ['role:agent', 'u7'], metadata: {} },
      { id: 'r1', title: 'Refunds', acl: ['role:agent'], metadata: { category: 'refund' } },
      { id: 'shipping', title: 'Shipping FAQ', acl: [], metadata: {} },
    ]);
    const merchantRow = await t.db.dataSource.query<{ name: string }[]>(
      `SELECT name FROM merchants WHERE id = $1`,
      [merchant],
    );
    expect(merchantRow).toEqual([{ name: 'Loaded Co' }]);
  });

  it('is idempotent, and re-embeds only what changed', async () => {
    await loadFolder(t.services, merchant, dir);
    expect(await loadFolder(t.services, merchant, dir)).toMatchObject({
      created: 0,
      updated: 0,
      skipped: 3,
      embedded: 0,
    });
    write(
      'refunds.md',
      '---\nid: r1\ntitle: Refunds\nacl: [role:agent]\nmetadata: { category: refund }\n---\n## Window\n\n60 days.\n\n## Method\n\nOriginal card.',
    );
    expect(await loadFolder(t.services, merchant, dir)).toMatchObject({
      created: 0,
      updated: 1,
      skipped: 2,
      // Counts cover written documents only: the two unchanged files are skipped before chunking.
      chunks: 2,
      embedded: 1,
      reused: 1,
    });
  });

  it('rejects duplicate ids and bad front matter before writing anything', async () => {
    write('dup.md', '---\nid: r1\n---\nAnother r1.');
    await expect(loadFolder(t.services, merchant, dir)).rejects.toThrow(/document id r1 is used by both/);
    fs.rmSync(path.join(dir, 'dup.md'));
    write('broken.md', '---\nacl: [unclosed\n---\nBody.');
    await expect(loadFolder(t.services, merchant, dir)).rejects.toThrow(DomainError);
    const docs = await t.db.dataSource.query<unknown[]>(
      `SELECT 1 FROM support_documents WHERE merchant_id = $1`,
      [merchant],
    );
    expect(docs).toHaveLength(0);
  });

  it('validates every file (ids, text, metadata) before writing anything, and names the bad file', async () => {
    for (let i = 0; i < 24; i++) write(`bulk/${String(i).padStart(2, '0')}.md`, `Document ${i}.`);
    write('bulk/23.md', '---\nid: "bad id"\n---\nBody.');
    await expect(loadFolder(t.services, merchant, dir)).rejects.toThrow(/^bulk\/23\.md: id must be/);
    const rows = await t.db.dataSource.query<unknown[]>(`SELECT 1 FROM merchants WHERE id = $1`, [merchant]);
    expect(rows).toHaveLength(0);
  });

  it('resumes after a failed batch: committed batches stay, a rerun skips them unread by the embedder and continues', async () => {
    for (let i = 0; i < 50; i++)
      write(`bulk/${String(i).padStart(2, '0')}.md`, `Document ${i} about parcels.`);
    let calls = 0;
    const real = t.services.ingestion;
    // The real services; only the third batch's write fails, as a lost connection would.
    const failing: LoaderTargets = {
      merchants: t.services.merchants,
      ingestion: {
        checkDocument: (c) => real.checkDocument(c),
        unchangedDocuments: (m, rows) => real.unchangedDocuments(m, rows),
        writeDocuments: async (m, cmds) => {
          if (++calls === 3) throw new Error('connection lost');
          return real.writeDocuments(m, cmds);
        },
      },
    };
    await expect(loadFolder(failing, merchant, dir, { batchSize: 10, concurrency: 1 })).rejects.toThrow(
      /connection lost \(20 of 53 documents are loaded and stay so; run the same command again to continue\)/,
    );
    const count = async () =>
      Number(
        (
          await t.db.dataSource.query<{ n: string }[]>(
            `SELECT count(*) AS n FROM support_documents WHERE merchant_id = $1`,
            [merchant],
          )
        )[0].n,
      );
    expect(await count()).toBe(20);
    const progress: number[] = [];
    const s = await loadFolder(t.services, merchant, dir, {
      batchSize: 10,
      concurrency: 3,
      onProgress: (done) => progress.push(done),
    });
    expect(s).toMatchObject({ files: 53, skipped: 20, created: 33, updated: 0 });
    expect(progress).toEqual(Array.from({ length: 53 }, (_, i) => i + 1));
    expect(await count()).toBe(53);
    // Unchanged documents are recognised before chunking: a third run writes and embeds nothing.
    expect(await loadFolder(t.services, merchant, dir, { concurrency: 4 })).toMatchObject({
      skipped: 53,
      created: 0,
      embedded: 0,
      chunks: 0,
    });
  });

  it('refuses a path that is not a folder', async () => {
    await expect(loadFolder(t.services, merchant, path.join(dir, 'refunds.md'))).rejects.toThrow(
      /is not a folder/,
    );
  });
});
