import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadFolder } from '../src/ingestion/folder-loader';
import { startTestGateway, type TestGateway } from './support/test-gateway';

const TOPICS = [
  'refunds',
  'shipping',
  'warranty',
  'passwords',
  'invoices',
  'gift cards',
  'returns',
  'exchanges',
];

/** A scraped help-center page: the chrome is in plain <div>s, as scrapes often have it, so only repetition finds it. */
const page = (topic: string, i: number) => `---
acl: [role:agent]
---
<!DOCTYPE html><html><head><title>${topic} | Acme Help</title></head><body>
<div class="top">Acme Help Center. Log in or Sign up to track your orders.</div>
<h1>About ${topic}</h1>
<p>Everything about ${topic}: step ${i} explains the ${topic} process in detail.</p>
<h2>Related articles</h2>
<ul><li>Contact us</li><li>Order status</li></ul>
<div>We use cookies to improve your experience. Accept all cookies or manage preferences.</div>
<div>© 2026 Acme Inc. Privacy Policy · Terms of Service</div>
</body></html>`;

describe('loading HTML with boilerplate stripping (npm run load)', () => {
  let t: TestGateway;
  let dir: string;
  let merchant: string;

  beforeAll(async () => {
    t = await startTestGateway();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-html-'));
    merchant = `html-${crypto.randomBytes(4).toString('hex')}`;
    TOPICS.forEach((topic, i) =>
      fs.writeFileSync(path.join(dir, `${topic.replace(' ', '-')}.html`), page(topic, i)),
    );
    fs.writeFileSync(path.join(dir, 'legacy.htm'), '<h1>Legacy</h1><p>Old page without front matter.</p>');
  });
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  const chunks = () =>
    t.db.dataSource.query<{ document_id: string; chunk_text: string; heading_path: string[] }[]>(
      `SELECT document_id, chunk_text, heading_path FROM document_chunks WHERE merchant_id = $1 ORDER BY document_id, chunk_index`,
      [merchant],
    );

  it('loads .html/.htm with titles and heading paths, strips what repeats, and reports it', async () => {
    const s = await loadFolder(t.services, merchant, dir);
    expect(s).toMatchObject({ files: 9, created: 9 });
    expect(s.warnings).toEqual([expect.stringMatching(/^legacy\.htm: .*nobody can read/)]);
    expect(s.boilerplate).toMatchObject({ documents: 8, removedBlocks: 8 * 5, keptWhole: 0 });
    expect(s.boilerplate.blocks.map((b) => [b.files, b.text])).toEqual([
      [8, '- Contact us - Order status'],
      [8, 'Acme Help Center. Log in or Sign up to track your orders.'],
      [8, 'We use cookies to improve your experience. Accept all cookies or manage preferences.'],
      [8, '© 2026 Acme Inc. Privacy Policy · Terms of Service'],
    ]);
    const docs = await t.db.dataSource.query<{ id: string; title: string }[]>(
      `SELECT id, title FROM support_documents WHERE merchant_id = $1 AND id IN ('refunds', 'legacy') ORDER BY id`,
      [merchant],
    );
    expect(docs).toEqual([
      { id: 'legacy', title: 'Legacy' },
      { id: 'refunds', title: 'refunds | Acme Help' },
    ]);
    const stored = await chunks();
    const refunds = stored.filter((c) => c.document_id === 'refunds');
    expect(refunds.map((c) => c.heading_path)).toEqual([['About refunds']]);
    const all = stored.map((c) => c.chunk_text).join('\n');
    for (const gone of ['Log in', 'cookies', 'Privacy Policy', 'Related articles', 'Order status'])
      expect(all).not.toContain(gone);
    expect(all).toContain('Everything about refunds: step 0 explains the refunds process in detail.');
  });

  it('gives the full text back when loaded again with the boilerplate kept', async () => {
    const s = await loadFolder(t.services, merchant, dir, { boilerplate: false });
    expect(s).toMatchObject({ updated: 8, skipped: 1, boilerplate: { blocks: [], documents: 0 } });
    const refunds = (await chunks()).filter((c) => c.document_id === 'refunds');
    expect(refunds.map((c) => c.chunk_text).join('\n')).toContain('Privacy Policy');
    expect(refunds.map((c) => c.heading_path)).toContainEqual(['About refunds', 'Related articles']);
    // And stripped again by a default load; then unchanged.
    expect(await loadFolder(t.services, merchant, dir)).toMatchObject({ updated: 8 });
    expect(await loadFolder(t.services, merchant, dir)).toMatchObject({ skipped: 9, updated: 0 });
  });
});
