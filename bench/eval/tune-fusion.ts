import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { distinctDocuments, firstRelevantRank, summarize } from './metrics';
import { type RankedChunk } from './runner';

const HELP = `Usage: node dist/bench/eval/tune-fusion.js <lists.json> [<lists.json> ...]

Offline fusion tuning on the ranked lists written by \`npm run eval -- --modes KEYWORD,VECTOR --k 50 --dump FILE\`:
fuses each question's KEYWORD and VECTOR lists with every candidate method and parameter, chooses on the TUNE split
of every set (the best worst-case margin of HYBRID over the better single mode, MRR@10 and R@5), and prints the
TEST split for the chosen few. Reads files only; touches no database.`;

interface Dump {
  set: string;
  questions: {
    id: string;
    split: 'tune' | 'test';
    relevant: string[];
    lists: { KEYWORD?: RankedChunk[]; VECTOR?: RankedChunk[] };
  }[];
}

type Fuser = (vector: RankedChunk[], keyword: RankedChunk[]) => RankedChunk[];

const order = (scores: Map<string, { c: RankedChunk; s: number }>): RankedChunk[] =>
  [...scores.values()].sort((a, b) => b.s - a.s || (a.c.id < b.c.id ? -1 : 1)).map((x) => x.c);

function rrf(k: number, w: number, vPool = 50, kPool = 50): Fuser {
  return (vector, keyword) => {
    const m = new Map<string, { c: RankedChunk; s: number }>();
    const add = (list: RankedChunk[], weight: number): void =>
      list.forEach((c, i) => {
        const e = m.get(c.id) ?? { c, s: 0 };
        e.s += weight / (k + i + 1);
        m.set(c.id, e);
      });
    add(vector.slice(0, vPool), w);
    add(keyword.slice(0, kPool), 1 - w);
    return order(m);
  };
}

/**
 * Convex combination of per-list normalized scores; `floor` 'min' = min-max over the list, 'zero' = s / max.
 * `raw`: the keyword score un-squashed first (the gateway reports BM25 as s / (s + 1); s = r / (1 − r)).
 */
function convex(w: number, floor: 'min' | 'zero', vPool = 50, kPool = 50, raw = false): Fuser {
  return (vector, keyword) => {
    const m = new Map<string, { c: RankedChunk; s: number }>();
    const add = (list: RankedChunk[], weight: number, unsquash: boolean): void => {
      if (list.length === 0) return;
      const score = (c: RankedChunk): number => (unsquash ? c.score / Math.max(1e-9, 1 - c.score) : c.score);
      const max = Math.max(...list.map(score));
      const min = floor === 'min' ? Math.min(...list.map(score)) : 0;
      const span = max - min;
      for (const c of list) {
        const e = m.get(c.id) ?? { c, s: 0 };
        e.s += weight * (span > 0 ? (score(c) - min) / span : 1);
        m.set(c.id, e);
      }
    };
    add(vector.slice(0, vPool), w, false);
    add(keyword.slice(0, kPool), 1 - w, raw);
    return order(m);
  };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { help: { type: 'boolean', default: false } },
  });
  if (values.help || positionals.length === 0) {
    console.log(HELP);
    return;
  }
  const dumps = positionals.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Dump);
  const candidates: { name: string; fuse: Fuser }[] = [];
  const weights = [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
  const pools = [10, 20, 50];
  for (const w of weights)
    for (const k of [0, 1, 2, 3, 5, 7, 10, 20, 60])
      for (const vp of pools)
        for (const kp of pools)
          candidates.push({ name: `rrf k=${k} w=${w} v${vp}/k${kp}`, fuse: rrf(k, w, vp, kp) });
  for (const w of weights)
    for (const floor of ['min', 'zero'] as const)
      for (const pool of [20, 50])
        for (const raw of [false, true]) {
          candidates.push({
            name: `convex ${floor}${raw ? ' raw' : ''} w=${w} pool=${pool}`,
            fuse: convex(w, floor, pool, pool, raw),
          });
        }

  const evalSplit = (fuse: Fuser | 'KEYWORD' | 'VECTOR', d: Dump, split: 'tune' | 'test' | 'all') => {
    const outcomes = d.questions
      .filter((q) => split === 'all' || q.split === split)
      .map((q) => {
        const v = q.lists.VECTOR ?? [];
        const kw = q.lists.KEYWORD ?? [];
        const ranked = fuse === 'KEYWORD' ? kw : fuse === 'VECTOR' ? v : fuse(v, kw);
        return { rank: firstRelevantRank(distinctDocuments(ranked.slice(0, 20)), new Set(q.relevant)) };
      });
    return summarize(outcomes);
  };
  const margins = (fuse: Fuser, split: 'tune' | 'test' | 'all') =>
    dumps.map((d) => {
      const h = evalSplit(fuse, d, split);
      const kw = evalSplit('KEYWORD', d, split);
      const v = evalSplit('VECTOR', d, split);
      return {
        set: d.set,
        mrr: h.mrrAt10,
        r5: h.recallAt5,
        dMrr: h.mrrAt10 - Math.max(kw.mrrAt10, v.mrrAt10),
        dR5: h.recallAt5 - Math.max(kw.recallAt5, v.recallAt5),
      };
    });
  const scored = candidates
    .map((c) => {
      const m = margins(c.fuse, 'tune');
      return {
        ...c,
        worst: Math.min(...m.map((x) => Math.min(x.dMrr, x.dR5))),
        meanMrr: m.reduce((s, x) => s + x.mrr, 0) / m.length,
        m,
      };
    })
    .sort((a, b) => b.worst - a.worst || b.meanMrr - a.meanMrr);
  const f = (x: number): string => (x >= 0 ? '+' : '') + x.toFixed(3);
  console.log(
    'tune split, best 12 by worst margin (HYBRID - better single mode) over sets and {MRR@10, R@5}:',
  );
  const shown = process.env.SHOW
    ? scored.filter((c) => c.name.startsWith(process.env.SHOW!))
    : scored.slice(0, 12);
  for (const c of shown)
    console.log(
      `  ${c.name.padEnd(28)} worst ${f(c.worst)} mean MRR ${c.meanMrr.toFixed(3)}  ` +
        c.m
          .map((x) => `${x.set}: MRR ${x.mrr.toFixed(3)} (${f(x.dMrr)}) R@5 ${x.r5.toFixed(3)} (${f(x.dR5)})`)
          .join('; '),
    );
  console.log('test split, same candidates:');
  for (const c of shown) {
    const m = margins(c.fuse, 'test');
    console.log(
      `  ${c.name.padEnd(28)} ` +
        m
          .map((x) => `${x.set}: MRR ${x.mrr.toFixed(3)} (${f(x.dMrr)}) R@5 ${x.r5.toFixed(3)} (${f(x.dR5)})`)
          .join('; '),
    );
  }
  const current = candidates.find((c) => c.name === 'rrf k=20 w=0.7 v50/k50')!;
  console.log(`current (rrf k=20 w=0.7, pools 50), test split:`);
  console.log(
    '  ' +
      margins(current.fuse, 'test')
        .map((x) => `${x.set}: MRR ${x.mrr.toFixed(3)} (${f(x.dMrr)}) R@5 ${x.r5.toFixed(3)} (${f(x.dR5)})`)
        .join('; '),
  );
}

main();
