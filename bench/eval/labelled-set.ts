import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A labelled set on disk (docs/EVAL.md describes it for people producing one from their own tickets):
 *
 *   <set>/set.json                    optional: { "name", "description", "source", "license" }
 *   <set>/documents/<merchant>/…      Markdown or text files with front matter, exactly as `npm run load` reads them
 *   <set>/questions.jsonl             one question a line:
 *     { "merchant": "m1", "question": "…", "relevant": ["doc id", …], "relevantTitles": ["…"], "id": "…",
 *       "split": "tune" | "test" }
 *
 * A question is answered when one of its relevant documents (by id, or by title) is among the first documents
 * retrieved. `split` is optional: without it a question falls into `tune` or `test` by a hash of its text, so the
 * split is stable and independent of file order.
 */
export interface SetMeta {
  name: string;
  description?: string;
  source?: string;
  license?: string;
}

export interface LabelledQuestion {
  id: string;
  merchant: string;
  question: string;
  relevant: string[];
  relevantTitles: string[];
  split: Split;
}

export type Split = 'tune' | 'test';

export interface LabelledSet {
  dir: string;
  meta: SetMeta;
  /** Merchant id -> its documents folder. */
  merchants: Map<string, string>;
  questions: LabelledQuestion[];
}

const MERCHANT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export function splitOf(text: string): Split {
  return crypto.createHash('sha256').update(text).digest()[0] % 2 === 0 ? 'tune' : 'test';
}

export function readLabelledSet(dir: string): LabelledSet {
  const abs = path.resolve(dir);
  const docsDir = path.join(abs, 'documents');
  const questionsFile = path.join(abs, 'questions.jsonl');
  if (!fs.existsSync(docsDir) || !fs.statSync(docsDir).isDirectory())
    throw new Error(`${abs}: no documents/ folder (one sub-folder per merchant)`);
  if (!fs.existsSync(questionsFile)) throw new Error(`${abs}: no questions.jsonl`);
  const metaFile = path.join(abs, 'set.json');
  const meta: SetMeta = fs.existsSync(metaFile)
    ? (JSON.parse(fs.readFileSync(metaFile, 'utf8')) as SetMeta)
    : { name: path.basename(abs) };
  if (typeof meta.name !== 'string' || meta.name.trim() === '') meta.name = path.basename(abs);

  const merchants = new Map<string, string>();
  for (const entry of fs
    .readdirSync(docsDir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    if (!MERCHANT_ID.test(entry.name))
      throw new Error(
        `${docsDir}/${entry.name}: a merchant folder name must be a merchant id (${MERCHANT_ID})`,
      );
    merchants.set(entry.name, path.join(docsDir, entry.name));
  }

  const questions: LabelledQuestion[] = [];
  const lines = fs.readFileSync(questionsFile, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${questionsFile}:${i + 1}`;
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const strings = (v: unknown, field: string): string[] => {
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' || typeof x === 'number'))
        throw new Error(`${where}: ${field} must be a list of strings`);
      return v.map(String);
    };
    const merchant = raw.merchant;
    const question = raw.question;
    if (typeof merchant !== 'string' || !merchants.has(merchant))
      throw new Error(
        `${where}: merchant must name a folder under documents/ (got ${JSON.stringify(merchant)})`,
      );
    if (typeof question !== 'string' || question.trim() === '')
      throw new Error(`${where}: question is empty`);
    const relevant = strings(raw.relevant, 'relevant');
    const relevantTitles = strings(raw.relevantTitles, 'relevantTitles');
    if (relevant.length + relevantTitles.length === 0)
      throw new Error(`${where}: give at least one relevant document id or title`);
    if (raw.split !== undefined && raw.split !== 'tune' && raw.split !== 'test')
      throw new Error(`${where}: split must be "tune" or "test"`);
    questions.push({
      id: typeof raw.id === 'string' || typeof raw.id === 'number' ? String(raw.id) : `q${i + 1}`,
      merchant,
      question: question.trim(),
      relevant,
      relevantTitles,
      split: raw.split ?? splitOf(`${merchant}\n${question.trim()}`),
    });
  });
  if (questions.length === 0) throw new Error(`${questionsFile}: no questions`);
  return { dir: abs, meta, merchants, questions };
}

export const normTitle = (s: string): string =>
  s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();

/** The set's questions, written as questions.jsonl (and set.json); documents are written by the converter. */
export function writeSetFiles(
  dir: string,
  meta: SetMeta,
  questions: Omit<LabelledQuestion, 'split'>[],
): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'set.json'), `${JSON.stringify(meta, null, 2)}\n`);
  const lines = questions.map((q) =>
    JSON.stringify({
      id: q.id,
      merchant: q.merchant,
      question: q.question,
      ...(q.relevant.length ? { relevant: q.relevant } : {}),
      ...(q.relevantTitles.length ? { relevantTitles: q.relevantTitles } : {}),
    }),
  );
  fs.writeFileSync(path.join(dir, 'questions.jsonl'), `${lines.join('\n')}\n`);
}

/** One document as the folder loader reads it (front matter values as JSON, which is valid YAML). */
export function writeDocument(
  merchantDir: string,
  doc: { id: string; title: string; text: string },
  acl: readonly string[],
): void {
  fs.mkdirSync(merchantDir, { recursive: true });
  const file = `${doc.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.md`;
  const front = `---\nid: ${JSON.stringify(doc.id)}\ntitle: ${JSON.stringify(doc.title)}\nacl: ${JSON.stringify(acl)}\n---\n`;
  fs.writeFileSync(path.join(merchantDir, file), `${front}# ${doc.title}\n\n${doc.text}\n`);
}
