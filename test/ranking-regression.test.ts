import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readLabelledSet } from '../bench/eval/labelled-set';
import { type RankingMetrics } from '../bench/eval/metrics';
import { evaluate, type LoadedSet, loadSet, type Mode, MODES } from '../bench/eval/runner';
import { EVAL_ROLE } from '../bench/eval/converters';
import { startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * Ranking must not get worse: real questions over real manuals and FAQs (test/fixtures/ranking, NOTICE.md),
 * loaded with the folder loader and asked through GraphQL over HTTP in every mode, with the default embedder.
 * The floors in thresholds.json are measured values minus a margin; after a measured improvement, raise them with
 * UPDATE_RANKING_THRESHOLDS=1 (it writes the new measurements minus the margin). docs/EVAL.md has the full eval.
 */
const FIXTURE = path.join(__dirname, 'fixtures', 'ranking');
const THRESHOLDS = path.join(FIXTURE, 'thresholds.json');
const MARGIN = 0.03;

type Metric = 'mrrAt10' | 'recallAt5';
type Floors = Record<string, Record<Mode, Record<Metric, number>>>;

/** The manual's questions and the FAQ businesses' questions behave differently: each group has its floors. */
const GROUPS: Record<string, (merchant: string) => boolean> = {
  manual: (m) => m.includes('manual-'),
  faq: (m) => !m.includes('manual-'),
};

describe('ranking regression (labelled questions through GraphQL)', () => {
  let t: TestGateway;
  let loaded: LoadedSet;
  const measured: Record<string, Record<Mode, RankingMetrics>> = {};

  beforeAll(async () => {
    // Hundreds of questions in a row from one caller: the rate limits would answer 429, not rank.
    t = await startTestGateway({
      env: { RATE_LIMIT_MERCHANT_PER_MINUTE: '0', RATE_LIMIT_CALLER_PER_MINUTE: '0' },
    });
    const run = crypto.randomBytes(3).toString('hex');
    loaded = await loadSet(t.services, readLabelledSet(FIXTURE), undefined, (name) => `rr${run}-${name}`);
    for (const [group, member] of Object.entries(GROUPS)) {
      const { results } = await evaluate(
        {
          endpoint: t.url,
          token: (merchantId) => t.token({ merchantId, userId: 'ranker', roles: [EVAL_ROLE] }),
          k: 20,
        },
        { ...loaded, questions: loaded.questions.filter((q) => member(q.merchant)) },
        MODES,
      );
      measured[group] = Object.fromEntries(results.map((r) => [r.mode, r.all])) as Record<
        Mode,
        RankingMetrics
      >;
      for (const r of results) expect(r.errors).toBe(0);
    }
    console.log(
      `[ranking] loaded in ${loaded.loadSeconds.toFixed(1)} s; ${Object.entries(measured)
        .flatMap(([g, byMode]) =>
          MODES.map(
            (m) => `${g} ${m} MRR@10 ${byMode[m].mrrAt10.toFixed(3)} R@5 ${byMode[m].recallAt5.toFixed(3)}`,
          ),
        )
        .join('; ')}`,
    );
    if (process.env.UPDATE_RANKING_THRESHOLDS === '1') {
      const floors = Object.fromEntries(
        Object.entries(measured).map(([g, byMode]) => [
          g,
          Object.fromEntries(
            MODES.map((m) => [
              m,
              {
                mrrAt10: +Math.max(0, byMode[m].mrrAt10 - MARGIN).toFixed(3),
                recallAt5: +Math.max(0, byMode[m].recallAt5 - MARGIN).toFixed(3),
              },
            ]),
          ),
        ]),
      );
      fs.writeFileSync(THRESHOLDS, `${JSON.stringify({ margin: MARGIN, floors }, null, 2)}\n`);
    }
  }, 240_000);

  afterAll(async () => {
    await t?.close();
  });

  it('resolves every labelled question to a document of its merchant', () => {
    expect(loaded.unresolved).toBe(0);
    expect(loaded.questions.length).toBeGreaterThanOrEqual(70);
  });

  const floors = (JSON.parse(fs.readFileSync(THRESHOLDS, 'utf8')) as { floors: Floors }).floors;
  for (const group of Object.keys(GROUPS)) {
    for (const mode of MODES) {
      it(`${group} ${mode}: MRR@10 and R@5 stay at or above their floors`, () => {
        const m = measured[group][mode];
        expect(m.questions).toBeGreaterThan(0);
        expect(m.mrrAt10).toBeGreaterThanOrEqual(floors[group][mode].mrrAt10);
        expect(m.recallAt5).toBeGreaterThanOrEqual(floors[group][mode].recallAt5);
      });
    }
  }
});
