/**
 * The real datasets as merchants of the benchmarks on real text (bench:real-recall, bench:text-queries): the Samsung
 * e-manuals and the DSTC10 FAQ of ../shared/datasets, each merchant's documents with their ACLs and the datasets' own
 * questions, which the product was never tuned on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SHARED_DATASETS } from './eval/converters';
import { fnv1a } from './eval/corpus-models';
import { listManuals, parseCsv, readManual, readZipQuestions } from './samsung-relevance';

export interface Doc {
  id: string;
  title: string;
  text: string;
}

export interface RealMerchant {
  id: string;
  source: string;
  docs: Doc[];
  queries: string[];
}

/** Every document is staff's; about 30% are a contractor's too, by a hash of the id. */
export function aclOf(id: string): string[] {
  return fnv1a(id) % 10 < 3 ? ['role:staff', 'role:contractor'] : ['role:staff'];
}

const clean = (s: string): string => s.replace(/\\"/g, '"').replace(/\s+/g, ' ').trim();

export function manualMerchants(): RealMerchant[] {
  const entries = listManuals(path.join(SHARED_DATASETS, 'samsung-emanuals'));
  const manuals = entries.map((e) => readManual(e));
  const questions = new Set<string>();
  for (const e of entries) {
    if (e.questionsFile && fs.existsSync(e.questionsFile)) {
      const [header, ...rows] = parseCsv(fs.readFileSync(e.questionsFile, 'utf8'));
      const column = header.indexOf('question');
      for (const r of rows) questions.add(clean(r[column] ?? ''));
    }
    const zip = (e as { questionsZip?: string | null }).questionsZip;
    if (zip && fs.existsSync(zip)) for (const q of readZipQuestions(zip)) questions.add(clean(q.question));
  }
  const docsOf = (ms: typeof manuals): Doc[] =>
    ms.flatMap((m) =>
      m.sections.map((s) => ({
        id: `${m.merchantId.slice('manual-'.length)}.${s.id}`,
        title: s.title,
        text: s.text,
      })),
    );
  const queries = [...questions].filter((q) => q !== '');
  return [
    {
      id: 'real-manuals-all',
      source: `Samsung e-manuals, all ${manuals.length} manuals`,
      docs: docsOf(manuals),
      queries,
    },
    {
      id: 'real-manuals-8',
      source: 'Samsung e-manuals, the first 8 (the two with questions, 6 others)',
      docs: docsOf(manuals.slice(0, 8)),
      queries,
    },
  ];
}

export function faqMerchants(): RealMerchant[] {
  const dir = path.join(SHARED_DATASETS, 'dstc10-faq');
  const knowledge = JSON.parse(fs.readFileSync(path.join(dir, 'knowledge.json'), 'utf8')) as Record<
    string,
    Record<string, { docs: Record<string, { title: string; body: string }> }>
  >;
  const logs = JSON.parse(fs.readFileSync(path.join(dir, 'val', 'logs.json'), 'utf8')) as {
    speaker: string;
    text: string;
  }[][];
  const queries = [
    ...new Set(logs.flatMap((turns) => turns.filter((t) => t.speaker === 'U').map((t) => clean(t.text)))),
  ].filter((q) => q !== '');
  const docsOf = (domains: string[] | null): Doc[] =>
    Object.entries(knowledge)
      .filter(([domain]) => domains === null || domains.includes(domain))
      .flatMap(([domain, entities]) =>
        Object.entries(entities).flatMap(([entity, e]) =>
          Object.entries(e.docs).map(([docId, d]) => ({
            id: `${domain}.${entity === '*' ? 'all' : entity}.${docId}`,
            title: clean(d.title),
            text: d.body.trim(),
          })),
        ),
      )
      .filter((d) => d.title !== '' && d.text !== '');
  return [
    { id: 'real-faq-all', source: 'DSTC10 FAQ, every business', docs: docsOf(null), queries },
    { id: 'real-faq-hotel', source: 'DSTC10 FAQ, the hotels', docs: docsOf(['hotel']), queries },
  ];
}

/** A stable sample of `n` questions by hash, so reruns ask the same ones. */
export function sampleQuestions(queries: string[], n: number): string[] {
  return [...queries].sort((a, b) => fnv1a(a) - fnv1a(b) || a.localeCompare(b)).slice(0, n);
}
