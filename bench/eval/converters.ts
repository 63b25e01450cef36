import fs from 'node:fs';
import path from 'node:path';
import { listManuals, parseCsv, readManual, readZipQuestions } from '../samsung-relevance';
import { type LabelledQuestion, normTitle, writeDocument, writeSetFiles } from './labelled-set';

/** Who may read the converted documents: the eval's reader has this role. */
export const EVAL_ROLE = 'eval';
export const EVAL_ACL = [`role:${EVAL_ROLE}`];

export const SHARED_DATASETS = process.env.EVAL_DATASETS_DIR ?? '/work/shared/datasets';

export interface ConvertReport {
  name: string;
  merchants: number;
  documents: number;
  questions: number;
  /** Labels matched to a section title exactly / fuzzily / not at all (dropped). */
  exact?: number;
  fuzzy?: number;
  unmatched: number;
  duplicates: number;
}

const words = (s: string): Set<string> =>
  new Set(
    normTitle(s)
      .split(' ')
      .filter((w) => w.length > 0),
  );

/**
 * The section(s) a label's last path element names: the same title (normalized), else the one title containing
 * it or contained in it, else the best word overlap (Jaccard >= 0.5). The zip's labels are hand-typed
 * ("Using the Smart Hub" for "Using Smart Hub"), hence the fallbacks; the report counts each kind.
 */
export function matchSection(
  label: string,
  sections: readonly { id: string; title: string }[],
): { ids: string[]; how: 'exact' | 'fuzzy' } | null {
  const key = normTitle(label);
  if (key === '') return null;
  const exact = sections.filter((s) => normTitle(s.title) === key).map((s) => s.id);
  if (exact.length > 0) return { ids: exact, how: 'exact' };
  const containing = sections.filter((s) => {
    const t = normTitle(s.title);
    return t.length >= 4 && key.length >= 4 && (t.includes(key) || key.includes(t));
  });
  if (containing.length === 1) return { ids: [containing[0].id], how: 'fuzzy' };
  const lw = words(label);
  let best: { id: string; j: number } | null = null;
  for (const s of sections) {
    const sw = words(s.title);
    let inter = 0;
    for (const w of lw) if (sw.has(w)) inter++;
    const j = inter / (lw.size + sw.size - inter || 1);
    if (best === null || j > best.j) best = { id: s.id, j };
  }
  return best !== null && best.j >= 0.5 ? { ids: [best.id], how: 'fuzzy' } : null;
}

/**
 * Samsung e-manuals: one manual = one merchant, one section = one document. The S10 and smart TV manuals carry the
 * labelled questions (their CSVs, and the smart-remote zip for the TV); `distractors` more manuals are loaded as
 * merchants of their own (they share the database and its statistics, never a result: tenants are isolated).
 */
export function convertSamsung(outDir: string, opts: { distractors?: number } = {}): ConvertReport {
  const dir = path.join(SHARED_DATASETS, 'samsung-emanuals');
  const all = listManuals(dir);
  const manuals = all.slice(0, 2 + Math.max(0, opts.distractors ?? 0)).map((m) => readManual(m));
  const report: ConvertReport = {
    name: 'samsung-emanuals',
    merchants: manuals.length,
    documents: 0,
    questions: 0,
    exact: 0,
    fuzzy: 0,
    unmatched: 0,
    duplicates: 0,
  };
  const questions: Omit<LabelledQuestion, 'split'>[] = [];
  for (const manual of manuals) {
    for (const s of manual.sections)
      writeDocument(path.join(outDir, 'documents', manual.merchantId), s, EVAL_ACL);
    report.documents += manual.sections.length;
    if (!manual.questionsFile) continue;
    const [header, ...rows] = parseCsv(fs.readFileSync(manual.questionsFile, 'utf8'));
    const qi = header.indexOf('question');
    const pi = header.indexOf('section_path');
    const idi = header.indexOf('question_id');
    const labelled = rows.map((r, i) => ({
      id: `csv-${r[idi] ?? i}`,
      path: r[pi] ?? '',
      question: r[qi] ?? '',
    }));
    if (manual.questionsZip && fs.existsSync(manual.questionsZip))
      readZipQuestions(manual.questionsZip).forEach((p, i) => labelled.push({ id: `zip-${i + 1}`, ...p }));
    const seen = new Set<string>();
    for (const l of labelled) {
      const question = l.question.replace(/\\"/g, '"').replace(/\s+/g, ' ').trim();
      const match = matchSection(l.path.split('>').pop() ?? '', manual.sections);
      if (!match || question === '') {
        report.unmatched++;
        continue;
      }
      // The paraphrased sets repeat some questions verbatim.
      if (seen.has(normTitle(question))) {
        report.duplicates++;
        continue;
      }
      seen.add(normTitle(question));
      if (match.how === 'exact') report.exact!++;
      else report.fuzzy!++;
      questions.push({
        id: `${manual.merchantId}/${l.id}`,
        merchant: manual.merchantId,
        question,
        relevant: match.ids,
        relevantTitles: [],
      });
    }
  }
  report.questions = questions.length;
  writeSetFiles(
    outDir,
    {
      name: 'samsung-emanuals',
      description: `Samsung e-manuals: S10 and smart TV/remote manuals with labelled questions (CSV + zip), ${manuals.length - 2} distractor manuals`,
      source: 'abhi1nandy2/EMNLP-2021-Findings data/ (via /work/shared/datasets/samsung-emanuals)',
      license: 'Apache-2.0',
    },
    questions,
  );
  return report;
}

interface DstcKnowledge {
  [domain: string]: {
    [entity: string]: { name?: string | null; docs: { [doc: string]: { title: string; body: string } } };
  };
}

/**
 * DSTC10 track 2 FAQ: one business = one merchant, one FAQ snippet = one document (its title is the FAQ's
 * question, its text the answer). The questions are the last user turns of the validation dialogues whose label
 * names a snippet; the business is the labelled one (the dialogues often name it only in earlier turns).
 * Only businesses that some question asks about are loaded, plus `distractors` others.
 */
export function convertDstc10(outDir: string, opts: { distractors?: number } = {}): ConvertReport {
  const dir = path.join(SHARED_DATASETS, 'dstc10-faq');
  const knowledge = JSON.parse(fs.readFileSync(path.join(dir, 'knowledge.json'), 'utf8')) as DstcKnowledge;
  const logs = JSON.parse(fs.readFileSync(path.join(dir, 'val', 'logs.json'), 'utf8')) as {
    speaker: string;
    text: string;
  }[][];
  const labels = JSON.parse(fs.readFileSync(path.join(dir, 'val', 'labels.json'), 'utf8')) as {
    target: boolean;
    knowledge?: { domain: string; entity_id: string | number; doc_id: string | number }[];
  }[];
  const merchantOf = (domain: string, entity: string | number): string =>
    `${domain}-${String(entity) === '*' ? 'all' : String(entity)}`;
  const report: ConvertReport = {
    name: 'dstc10-faq',
    merchants: 0,
    documents: 0,
    questions: 0,
    unmatched: 0,
    duplicates: 0,
  };
  const questions: Omit<LabelledQuestion, 'split'>[] = [];
  const wanted = new Set<string>();
  labels.forEach((label, i) => {
    if (!label.target || !label.knowledge?.length) return;
    const turns = logs[i] ?? [];
    const last = [...turns].reverse().find((t) => t.speaker === 'U');
    const k = label.knowledge[0];
    const entity = knowledge[k.domain]?.[String(k.entity_id)];
    if (!last || !entity?.docs[String(k.doc_id)]) {
      report.unmatched++;
      return;
    }
    const merchant = merchantOf(k.domain, k.entity_id);
    wanted.add(`${k.domain}\n${String(k.entity_id)}`);
    questions.push({
      id: `val-${i}`,
      merchant,
      question: last.text.trim(),
      relevant: label.knowledge
        .filter((x) => merchantOf(x.domain, x.entity_id) === merchant)
        .map((x) => String(x.doc_id)),
      relevantTitles: [],
    });
  });
  let extra = Math.max(0, opts.distractors ?? 0);
  for (const [domain, entities] of Object.entries(knowledge)) {
    for (const [entity, e] of Object.entries(entities)) {
      const isWanted = wanted.has(`${domain}\n${entity}`);
      if (!isWanted && extra <= 0) continue;
      if (!isWanted) extra--;
      const merchantDir = path.join(outDir, 'documents', merchantOf(domain, entity));
      for (const [docId, doc] of Object.entries(e.docs)) {
        writeDocument(merchantDir, { id: docId, title: doc.title.trim(), text: doc.body.trim() }, EVAL_ACL);
        report.documents++;
      }
      report.merchants++;
    }
  }
  report.questions = questions.length;
  writeSetFiles(
    outDir,
    {
      name: 'dstc10-faq',
      description:
        'DSTC10 track 2 FAQ snippets (one business = one merchant), validation questions with labels',
      source: 'alexa/alexa-with-dstc10-track2-dataset task2/data/ (via /work/shared/datasets/dstc10-faq)',
      license: 'Apache-2.0',
    },
    questions,
  );
  return report;
}
