import crypto from 'node:crypto';

/**
 * Boilerplate: blocks of text that repeat across many of the files of one load — navigation, footers, "Log in …
 * Related Articles … Privacy Policy", cookie banners that a scrape leaves in every page. Chunked as content they
 * match every question that shares a word with them and crowd out the answers.
 *
 * A block is what blank lines separate in the (Markdown or converted HTML) body; a fenced code block is one block
 * and never boilerplate. The check pass counts, per file, the distinct normalized blocks (`add`); a block found in
 * at least `minShare` of the files and in at least `minFiles` files is boilerplate; the write pass strips those
 * (`strip`). Headings are never stripped for repeating alone: they give chunks their heading paths. A repeated
 * heading goes only when its section is left empty (the "Related articles" heading over a stripped list). A
 * document is never stripped down to nothing: if no text would remain it is kept whole.
 *
 * The source files are not changed: loading again with `keepBoilerplate` (`--keep-boilerplate`) stores the full
 * text again (the changed chunks are re-embedded).
 *
 * Memory stays bounded however many files a load has: counts are kept by lossy counting (Manku and Motwani,
 * "Approximate frequency counts over data streams", 2002) with files as the stream's items: every `1/ε` files,
 * blocks seen too rarely to ever reach ε of the files are forgotten, so at most O((1/ε)·log(εN)) counts are
 * held, and a block in at least a share s > ε of the files is never forgotten, its count at most εN short.
 */
export interface BoilerplateOptions {
  /** Share of the load's files a block must appear in (default 0.3). */
  minShare?: number;
  /** And at least this many files (default 5): a load of a few files strips nothing. */
  minFiles?: number;
}

export const BOILERPLATE_DEFAULTS = { minShare: 0.3, minFiles: 5 } as const;

/** A stripped block as reported: the start of its text and the number of files it appeared in. */
export interface BoilerplateBlock {
  text: string;
  files: number;
}

/** The lossy counter's error ε: a block's count is at most 0.2% of the files short. */
const EPSILON = 0.002;
const BUCKET = Math.ceil(1 / EPSILON);
const SAMPLE_CHARS = 100;

interface Block {
  text: string;
  /** Heading level 1–6, 0 for text, -1 for a fenced code block (never boilerplate). */
  level: number;
  key: string | null;
}

interface Count {
  count: number;
  /** Files it may have been in before it was first counted (lossy counting's Δ). */
  delta: number;
  sample: string;
  heading: boolean;
}

const HEADING = /^ {0,3}(#{1,6})\s+\S/;
const FENCE = /^\s*(```|~~~)/;

/** Blocks of a body: separated by blank lines, fenced code blocks whole (blank lines inside them included). */
function splitBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  let lines: string[] = [];
  let fence: string | null = null;
  const flush = (code = false): void => {
    if (lines.length === 0) return;
    const t = lines.join('\n');
    lines = [];
    const heading = HEADING.exec(t);
    const level = code ? -1 : heading && !t.includes('\n') ? heading[1].length : 0;
    blocks.push({ text: t, level, key: level === -1 ? null : blockKey(t) });
  };
  for (const line of text.split('\n')) {
    const f = FENCE.exec(line);
    if (fence !== null) {
      lines.push(line);
      if (f && f[1] === fence) {
        fence = null;
        flush(true);
      }
    } else if (f) {
      flush();
      fence = f[1];
      lines.push(line);
    } else if (line.trim() === '') flush();
    else if (HEADING.test(line)) {
      flush(); // a heading is its own block even without blank lines around it
      lines.push(line);
      flush();
    } else lines.push(line);
  }
  flush(fence !== null);
  return blocks;
}

/** The same block however it is cased, spaced or emphasized; null for a block without a letter or digit. */
function blockKey(text: string): string | null {
  const norm = text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[*_`~>|#-]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!/[\p{L}\p{N}]/u.test(norm)) return null;
  return crypto.createHash('sha256').update(norm).digest('base64').slice(0, 22);
}

/** The check pass's counter: `add` each file's body, then `finish`. */
export class BoilerplateDetector {
  private readonly counts = new Map<string, Count>();
  private files = 0;

  constructor(private readonly options: BoilerplateOptions = {}) {}

  add(text: string): void {
    const bucket = Math.floor(this.files / BUCKET) + 1;
    this.files++;
    const seen = new Set<string>();
    for (const b of splitBlocks(text)) {
      if (b.key === null || seen.has(b.key)) continue;
      seen.add(b.key);
      const c = this.counts.get(b.key);
      if (c) c.count++;
      else
        this.counts.set(b.key, {
          count: 1,
          delta: bucket - 1,
          sample: sample(b.text),
          heading: b.level > 0,
        });
    }
    if (this.files % BUCKET === 0) {
      for (const [key, c] of this.counts) if (c.count + c.delta <= bucket) this.counts.delete(key);
    }
  }

  finish(): Boilerplate {
    const minShare = this.options.minShare ?? BOILERPLATE_DEFAULTS.minShare;
    const minFiles = this.options.minFiles ?? BOILERPLATE_DEFAULTS.minFiles;
    const need = Math.max(minFiles, Math.ceil(minShare * this.files - EPSILON * this.files));
    const found = new Map<string, BoilerplateBlock & { heading: boolean }>();
    for (const [key, c] of this.counts) {
      if (c.count >= need) found.set(key, { text: c.sample, files: c.count, heading: c.heading });
    }
    this.counts.clear();
    return new Boilerplate(found);
  }
}

function sample(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > SAMPLE_CHARS ? `${one.slice(0, SAMPLE_CHARS - 1)}…` : one;
}

/** What the check pass found, and what the write pass strips with it. */
export class Boilerplate {
  /** Documents whose text was changed, blocks removed, and documents kept whole (nothing else would remain). */
  readonly stats = { documents: 0, blocks: 0, keptWhole: 0 };

  constructor(private readonly found: ReadonlyMap<string, BoilerplateBlock & { heading: boolean }>) {}

  static none(): Boilerplate {
    return new Boilerplate(new Map());
  }

  /**
   * The boilerplate blocks, most widespread first. Repeated headings are not listed: they go only with a section
   * emptied by the blocks listed ("## Steps" in every article is structure).
   */
  blocks(limit = Infinity): BoilerplateBlock[] {
    return [...this.found.values()]
      .filter((b) => !b.heading)
      .map(({ text, files }) => ({ text, files }))
      .sort((a, b) => b.files - a.files || (a.text < b.text ? -1 : 1))
      .slice(0, limit);
  }

  /** The text without its boilerplate blocks; the text itself when there is none, or when nothing would remain. */
  strip(text: string): string {
    if (this.found.size === 0) return text;
    const blocks = splitBlocks(text);
    const repeated = (b: Block): boolean => b.key !== null && this.found.has(b.key);
    const emptySection = (list: Block[], i: number): boolean => {
      const next = list[i + 1];
      return next === undefined || (next.level > 0 && next.level <= list[i].level);
    };
    // Headings without a section of their own to begin with (a site name over the article's title) stay.
    const bare = new Set(blocks.filter((b, i) => b.level > 0 && emptySection(blocks, i)));
    let kept = blocks.filter((b) => b.level !== 0 || !repeated(b));
    // A repeated heading whose section stripping emptied (the next block is a heading of its level or above, or
    // nothing) goes too; from the end, so that nested emptied sections go with their parent.
    for (let i = kept.length - 1; i >= 0; i--) {
      const b = kept[i];
      if (b.level > 0 && repeated(b) && !bare.has(b) && emptySection(kept, i))
        kept = kept.filter((_, j) => j !== i);
    }
    const removed = blocks.length - kept.length;
    if (removed === 0) return text;
    if (!kept.some((b) => b.level <= 0)) {
      this.stats.keptWhole++;
      return text;
    }
    this.stats.documents++;
    this.stats.blocks += removed;
    return kept.map((b) => b.text).join('\n\n');
  }
}
