import 'reflect-metadata';
import { integerOption, parseCommandLine, usageError } from '../src/cli/command-line';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { type Embedder } from '../src/embeddings/embedder';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { RECALL_TARGET } from '../src/retrieval/calibration-model';
import { mixedPassage, passage, shuffle } from '../src/retrieval/calibration-queries';
import { CalibrationRepository } from '../src/retrieval/calibration.repository';
import { machine, rng, writeResults } from './bench-utils';
import { faqMerchants, manualMerchants, sampleQuestions } from './real-datasets';
import { SENTENCE_ENCODER_MODEL, startSentenceEncoder } from './sentence-encoder-model';
import { recallBySetting, type SetQuery } from './setting-recall';

const USAGE = `Usage: npm run bench:text-queries -- [--queries 100] [--seed 7] [--merchants real-faq-all,...]
                                    [--model ${SENTENCE_ENCODER_MODEL}]

Which calibration queries predict the recall of real questions on real text. Reads (never writes) the database
built by \`npm run bench:real-recall\` (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/srg_bench_real)
and, for each of its merchants, setting by setting (the calibration's HNSW candidates where the merchant has a
dedicated index, its quantized re-ranks below the merchant's size, each with the Hamming shortlist the product uses
and the Jaccard one it does not use), compares recall@10, strictly by id as the
calibration counts, of query sets of --queries each, embedded by the default embedder:
  own        the merchant's own vectors (own chunk left out)
  passage    3-8 consecutive words of a sampled chunk (half the calibration's queries)
  mixed      2-4 consecutive words of one sampled chunk and 2-4 of another (the other half)
  diluted    2-4 consecutive words of one sampled chunk and 4-8 single words, each of another sampled chunk
  noisy      3-8 consecutive words of a sampled chunk and 3-6 made-up words (random letters), words no chunk has
  questions  the datasets' own questions (the first --queries of bench:real-recall's stable sample)
✓ marks a set on which the calibration's rule (one-sided 95% Wilson lower bound >= 0.99) passes the setting.
Readers: staff (every document) and the contractor (about 30%).
--model ${SENTENCE_ENCODER_MODEL}: the database \`bench:real-recall -- --model ${SENTENCE_ENCODER_MODEL}\` built, every
set embedded by that dense model (bench/sentence-encoder-server.ts); results docs/benchmarks/text-queries-MODEL.*
Results: docs/benchmarks/text-queries.{json,md}`;

const { values: options } = parseCommandLine(USAGE, {
  options: {
    queries: { type: 'string' },
    seed: { type: 'string' },
    merchants: { type: 'string' },
    model: { type: 'string' },
  },
});
if (options.model !== undefined && options.model !== SENTENCE_ENCODER_MODEL)
  usageError(USAGE, `--model: only ${SENTENCE_ENCODER_MODEL} (or none, for the default embedder)`);
const N = integerOption(USAGE, 'queries', options.queries, 100, 4);
const SEED = integerOption(USAGE, 'seed', options.seed, 7);
const URL_ = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_real';
const READERS = { staff: ['staff'], contractor: ['contractor'] } as const;
const SETS = ['own', 'passage', 'mixed', 'diluted', 'noisy', 'questions'] as const;

async function main(): Promise<void> {
  const questionsOf = new Map([...manualMerchants(), ...faqMerchants()].map((m) => [m.id, m.queries]));
  const merchantIds = options.merchants?.split(',') ?? [...questionsOf.keys()];
  const unknown = merchantIds.filter((m) => !questionsOf.has(m));
  if (unknown.length > 0) usageError(USAGE, `not a merchant of bench:real-recall: ${unknown.join(', ')}`);
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: URL_, DB_STATEMENT_TIMEOUT_MS: '0' });
  // Never migrates: the database is the benchmark's, read as it is.
  const db = await openDatabase(config, { migrate: false, poolSize: 2 });
  const ds = db.dataSource;
  const calibrations = new CalibrationRepository();
  const model = options.model === undefined ? null : await startSentenceEncoder();
  const embedder: Embedder =
    model === null
      ? new LocalHashEmbedder(1536)
      : createEmbedder(loadConfig({ NODE_ENV: 'test', ...model.env }));
  const random = rng(SEED);

  const rows: Record<string, unknown>[] = [];
  for (const merchantId of merchantIds) {
    const found = await ds.query<{ version: number }[]>(
      `SELECT corpus_version AS version FROM document_chunks WHERE merchant_id = $1 LIMIT 1`,
      [merchantId],
    );
    if (found.length === 0)
      throw new Error(`${merchantId} has no chunks in ${URL_}: run npm run bench:real-recall`);
    const { version } = found[0];
    const [corpus] = await ds.query<{ embedding_model: string }[]>(
      `SELECT embedding_model FROM corpus_versions WHERE merchant_id = $1 AND version = $2`,
      [merchantId, version],
    );
    if (corpus?.embedding_model !== embedder.model)
      throw new Error(
        `${merchantId} in ${URL_} is embedded by ${corpus?.embedding_model ?? 'nothing'}, not ${embedder.model}: ` +
          `run npm run bench:real-recall${options.model ? ` -- --model ${options.model}` : ''} for this database`,
      );
    // Shuffled, as the calibration shuffles it: it comes back in the plan's order (often the chunks'), and each set
    // is a slice of it (and mixed pairs neighbours in it).
    const sample = shuffle(await calibrations.sample(ds.manager, merchantId, version, N * 5), random);
    const texts = (from: number) => sample.slice(from * N, (from + 1) * N);
    const embedTexts = async (ts: string[]): Promise<SetQuery[]> =>
      (await embedder.embed(ts.filter((t) => t !== ''))).map((embedding) => ({ embedding, self: '' }));
    const sets: Record<(typeof SETS)[number], SetQuery[]> = {
      own: texts(0).map((s) => ({ embedding: s.embedding, self: s.id })),
      passage: await embedTexts(texts(1).map((s) => passage(s.text, random))),
      mixed: await embedTexts(
        texts(2).map((s, i, rest) => mixedPassage(s.text, rest[(i + 1) % rest.length].text, random)),
      ),
      diluted: await embedTexts(
        texts(3).map((s) =>
          diluted(
            s.text,
            sample.map((o) => o.text),
            random,
          ),
        ),
      ),
      noisy: await embedTexts(texts(4).map((s) => noisy(s.text, random))),
      questions: await embedTexts(sampleQuestions(questionsOf.get(merchantId) ?? [], N)),
    };
    const of = { merchantId, version, dimensions: embedder.dimensions };
    rows.push(...(await recallBySetting(ds, config, of, READERS, 'real', sets)));
  }
  await db.close();
  model?.stop();
  writeResults(
    options.model === undefined ? 'text-queries' : `text-queries-${options.model}`,
    { machine: machine(), seed: SEED, queries: N, rows },
    report(rows),
  );
}

const wordsOf = (text: string): string[] => text.split(/\s+/).filter((w) => w !== '');

/** 2 to 4 consecutive words of `text`, then 4 to 8 single words, each of a random text of `others`. */
function diluted(text: string, others: string[], random: () => number): string {
  const words = wordsOf(text);
  const length = 2 + Math.floor(random() * 3);
  const start = Math.floor(random() * Math.max(1, words.length - length + 1));
  const foreign = Array.from({ length: 4 + Math.floor(random() * 5) }, () => {
    const w = wordsOf(others[Math.floor(random() * others.length)]);
    return w[Math.floor(random() * w.length)] ?? '';
  });
  return [...words.slice(start, start + length), ...foreign].join(' ').trim();
}

/** 3 to 8 consecutive words of `text`, then 3 to 6 made-up words of 4 to 8 random letters. */
function noisy(text: string, random: () => number): string {
  const made = Array.from({ length: 3 + Math.floor(random() * 4) }, () =>
    Array.from({ length: 4 + Math.floor(random() * 5) }, () =>
      String.fromCharCode(97 + Math.floor(random() * 26)),
    ).join(''),
  );
  return [passage(text, random), ...made].join(' ');
}

function report(rows: Record<string, unknown>[]): string {
  const f = (x: unknown, pass: unknown) => `${(x as number).toFixed(3)}${pass ? ' ✓' : ''}`;
  return [
    '# Calibration queries on real text: which sample predicts the recall of real questions',
    '',
    `Run ${new Date().toISOString()} on ${machine()}. Reproduce: \`npm run bench:real-recall${options.model ? ` -- --model ${options.model}` : ''}\`, then \`npm run bench:text-queries -- --queries ${N} --seed ${SEED}${options.merchants ? ` --merchants ${options.merchants}` : ''}${options.model ? ` --model ${options.model}` : ''}\`.`,
    '',
    `${N} queries per set, recall@10 strictly by id; ✓ = the calibration's rule (one-sided 95% Wilson lower bound >= ${RECALL_TARGET}) passes the setting on that set alone.`,
    '',
    `| merchant | chunks | reader | setting | ${SETS.join(' | ')} |`,
    `|---|---:|---|---|${SETS.map(() => '---:').join('|')}|`,
    ...rows.map(
      (r) =>
        `| ${String(r.merchantId)} | ${String(r.size)} | ${String(r.reader)} | ${String(r.setting)} | ${SETS.map((s) => f(r[s], r[`${s}Passes`])).join(' | ')} |`,
    ),
  ].join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
