import fs from 'node:fs';
import path from 'node:path';
import { rng } from './bench-utils';

/** Markdown documents for the ingestion benchmark, written as a folder `npm run load` reads. */
export interface BenchDocument {
  id: string;
  title: string;
  text: string;
}

/**
 * Synthetic help-centre articles: 4 sections of two ~45-word paragraphs over a 3,000-word vocabulary drawn with a
 * Zipf-like skew (natural text repeats words; a uniform draw would understate tokenizer and tsvector caching).
 * About 4 chunks per document at the default chunk size (a chunk never crosses a heading).
 */
export function syntheticDocuments(count: number, seed: number, prefix = 'syn'): BenchDocument[] {
  const rand = rng(seed);
  const syllables = 'ka re to mi su lo na pe ri cho ba de fi gu ho ja ke lu mo ne'.split(' ');
  const vocab = Array.from({ length: 3000 }, (_, i) => {
    let w = '';
    for (let n = i + 7; w.length < 3 || n > 0; n = Math.floor(n / syllables.length))
      w += syllables[n % syllables.length];
    return w;
  });
  const word = (): string => vocab[Math.floor(vocab.length * rand() ** 3)];
  const paragraph = (): string => {
    const sentences: string[] = [];
    for (let s = 0; s < 4; s++) {
      const n = 8 + Math.floor(rand() * 8);
      const words = Array.from({ length: n }, word);
      sentences.push(`${words[0][0].toUpperCase()}${words.join(' ').slice(1)}.`);
    }
    return sentences.join(' ');
  };
  return Array.from({ length: count }, (_, d) => ({
    id: `${prefix}-${d}`,
    title: `Article ${d} ${word()} ${word()}`,
    text: Array.from(
      { length: 4 },
      (_, s) => `## ${word()} ${word()} ${s}\n\n${paragraph()}\n\n${paragraph()}`,
    ).join('\n\n'),
  }));
}

/**
 * Real manual sections (Samsung e-manuals in /work/shared/datasets, or any folder of the same JSON shape): each
 * section is a document, its lines paragraphs. Sizes vary from one line to pages, unlike the synthetic set.
 */
export function manualDocuments(dir: string, count: number): BenchDocument[] {
  if (!fs.existsSync(dir)) return [];
  const out: BenchDocument[] = [];
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const sections = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Record<
      string,
      { title?: string; text?: string[] }
    >;
    for (const [key, s] of Object.entries(sections)) {
      const lines = (s.text ?? []).map((l) => l.trim()).filter((l) => l.length > 0);
      if (!s.title || lines.length === 0) continue;
      // File names hold '+' (Galaxy_Note_10+): ids allow letters, digits, '_', '.', ':' and '-'.
      const id = `man-${path.parse(file).name}-${key}`.replace(/[^A-Za-z0-9_.:-]/g, '_');
      out.push({ id, title: s.title, text: lines.join('\n\n') });
      if (out.length >= count) return out;
    }
  }
  return out;
}

/** Writes the documents as `<id>.md` files with front matter, 500 per sub-folder. */
export function writeFolder(dir: string, docs: readonly BenchDocument[]): void {
  fs.rmSync(dir, { recursive: true, force: true });
  docs.forEach((d, i) => {
    const sub = path.join(dir, `part-${String(Math.floor(i / 500)).padStart(3, '0')}`);
    if (i % 500 === 0) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(
      path.join(sub, `${d.id}.md`),
      `---\nid: ${d.id}\ntitle: ${JSON.stringify(d.title)}\nacl: [role:agent]\n---\n${d.text}\n`,
    );
  });
}

/** A synthetic article as an `IngestDocumentInput`, readable by agents. */
export const documentInput = (d: BenchDocument) => ({
  id: d.id,
  title: d.title,
  text: d.text,
  acl: ['role:agent'],
});

/** A help-desk ticket made of a synthetic article: its title as subject, up to three paragraphs as messages. */
export const ticketInput = (t: BenchDocument, i: number) => ({
  id: t.id,
  customerId: `c${i % 97}`,
  subject: t.title,
  status: 'OPEN',
  acl: ['role:agent'],
  messages: t.text
    .split('\n\n')
    .filter((p) => !p.startsWith('#'))
    .slice(0, 3)
    .map((body, k) => ({ author: k % 2 ? 'AGENT' : 'CUSTOMER', body })),
});
