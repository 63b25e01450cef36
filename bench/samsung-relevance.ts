import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/**
 * The Samsung e-manual set (/work/shared/datasets/samsung-emanuals, Apache-2.0; see its README): one manual = one
 * merchant, one section = one document, and the labelled questions of two manuals mapped to the sections whose
 * title is the last element of the label's section path.
 */
export interface Manual {
  /** File stem, e.g. `s10_manual_corpus` or `Galaxy_A01`. */
  name: string;
  merchantId: string;
  sections: { id: string; title: string; text: string }[];
  /** The labelled questions for this manual (empty for most). */
  questionsFile: string | null;
  /** A zip of more labelled questions (JSON files, some malformed), for the smart TV manual. */
  questionsZip?: string | null;
}

export interface LabelledQuestion {
  question: string;
  /** Document ids (section ids) whose title matches the label. */
  relevant: Set<string>;
}

export function datasetDir(): string {
  return process.env.BENCH_DATASETS_DIR ?? path.resolve('/work/shared/datasets/samsung-emanuals');
}

/** Manuals in a stable order: the two labelled ones first, then the others by name. */
export function listManuals(
  dir = datasetDir(),
): { name: string; file: string; questionsFile: string | null }[] {
  const labelled = [
    { name: 's10_manual_corpus', questions: 's10_50_questions.csv' },
    { name: 'smart_tv_remote_manual_corpus', questions: 'smart_tv_remote_50_questions.csv' },
  ].map((l) => ({
    name: l.name,
    file: path.join(dir, `${l.name}.json`),
    questionsFile: path.join(dir, l.questions),
    questionsZip: l.name.startsWith('smart_tv') ? path.join(dir, 'smart_remote_QA.zip') : null,
  }));
  const otherDir = path.join(dir, 'other_emanuals_corpus');
  const others = fs.existsSync(otherDir)
    ? fs
        .readdirSync(otherDir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => ({ name: f.replace(/\.json$/, ''), file: path.join(otherDir, f), questionsFile: null }))
    : [];
  return [...labelled, ...others];
}

export function readManual(entry: {
  name: string;
  file: string;
  questionsFile: string | null;
  questionsZip?: string | null;
}): Manual {
  const raw = JSON.parse(fs.readFileSync(entry.file, 'utf8')) as Record<
    string,
    { title?: unknown; text?: unknown }
  >;
  const sections: Manual['sections'] = [];
  for (const [key, value] of Object.entries(raw)) {
    const title = typeof value.title === 'string' && value.title.trim() !== '' ? value.title.trim() : key;
    const paragraphs = Array.isArray(value.text)
      ? value.text.filter((t): t is string => typeof t === 'string' && t.trim() !== '')
      : [];
    if (paragraphs.length === 0) continue;
    sections.push({ id: key.replace(/[^A-Za-z0-9_.:-]/g, '_'), title, text: paragraphs.join('\n\n') });
  }
  const slug = entry.name
    .replace(/_manual_corpus$/, '')
    .replace(/\+/g, 'plus')
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .toLowerCase();
  return {
    name: entry.name,
    merchantId: `manual-${slug}`.slice(0, 64),
    sections,
    questionsFile: entry.questionsFile,
    questionsZip: entry.questionsZip ?? null,
  };
}

/** Markdown files with front matter, as the folder loader reads them (JSON values are valid YAML). */
export function writeManualFolder(manual: Manual, dir: string, acl: readonly string[]): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const s of manual.sections) {
    const front = `---\nid: ${JSON.stringify(s.id)}\ntitle: ${JSON.stringify(s.title)}\nacl: ${JSON.stringify(acl)}\n---\n`;
    fs.writeFileSync(path.join(dir, `${s.id}.md`), `${front}# ${s.title}\n\n${s.text}\n`);
  }
}

/** A small RFC 4180 reader: quoted fields with commas, doubled quotes and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim() !== ''));
}

const norm = (s: string): string => s.toLowerCase().replace(/\s+/g, ' ').trim();

/** The files of a zip archive (stored or deflated entries), read through its central directory. */
export function readZip(file: string): Map<string, Buffer> {
  const buf = fs.readFileSync(file);
  let end = buf.length - 22;
  while (end >= 0 && buf.readUInt32LE(end) !== 0x06054b50) end--;
  if (end < 0) throw new Error(`${file}: not a zip archive`);
  const count = buf.readUInt16LE(end + 10);
  let at = buf.readUInt32LE(end + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const method = buf.readUInt16LE(at + 10);
    const size = buf.readUInt32LE(at + 20);
    const nameLength = buf.readUInt16LE(at + 28);
    const skip = nameLength + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLength);
    const data = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(data, data + size);
    if (!name.endsWith('/')) out.set(name, method === 8 ? zlib.inflateRawSync(raw) : Buffer.from(raw));
    at += 46 + skip;
  }
  return out;
}

/**
 * (section path, question) pairs from the smart-remote QA zip. Some of its JSON is malformed, so the pairs are
 * picked out with a pattern rather than parsed.
 */
export function readZipQuestions(file: string): { path: string; question: string }[] {
  const pairs: { path: string; question: string }[] = [];
  const pattern =
    /"Section Hierarchy"\s*:\s*"((?:[^"\\]|\\.)*)"[\s\S]*?"Question"\s*:\s*"((?:[^"\\]|\\.)*)"/g;
  for (const [name, data] of readZip(file)) {
    if (!name.endsWith('.json')) continue;
    for (const m of data.toString('utf8').matchAll(pattern)) pairs.push({ path: m[1], question: m[2] });
  }
  return pairs;
}

/**
 * Questions whose label names a section title of the manual (the CSV's 50, plus the zip's for the smart TV
 * manual); `unmatched` counts the labels that name no section title exactly.
 */
export function readQuestions(manual: Manual): { questions: LabelledQuestion[]; unmatched: number } {
  if (!manual.questionsFile) return { questions: [], unmatched: 0 };
  const [header, ...rows] = parseCsv(fs.readFileSync(manual.questionsFile, 'utf8'));
  const qi = header.indexOf('question');
  const pi = header.indexOf('section_path');
  const labelled = rows.map((r) => ({ path: r[pi] ?? '', question: r[qi] ?? '' }));
  if (manual.questionsZip && fs.existsSync(manual.questionsZip))
    labelled.push(...readZipQuestions(manual.questionsZip));
  const byTitle = new Map<string, Set<string>>();
  for (const s of manual.sections) {
    const key = norm(s.title);
    if (!byTitle.has(key)) byTitle.set(key, new Set());
    byTitle.get(key)!.add(s.id);
  }
  const questions: LabelledQuestion[] = [];
  let unmatched = 0;
  const seen = new Set<string>();
  for (const l of labelled) {
    const last = l.path.split('>').pop() ?? '';
    const relevant = byTitle.get(norm(last));
    const question = l.question.replace(/\\"/g, '"').trim();
    if (!relevant || question === '') {
      unmatched++;
      continue;
    }
    if (seen.has(question)) continue; // the paraphrased sets repeat some questions verbatim
    seen.add(question);
    questions.push({ question, relevant });
  }
  return { questions, unmatched };
}
