import { countTokens } from './token-counter';

export interface ChunkingOptions {
  /** A chunk holds at most this many tokens, unless a single sentence is longer (then it is split by words). */
  targetTokens: number;
  /** Tokens of trailing sentences repeated at the start of the next chunk of the same section. */
  overlapTokens: number;
  /**
   * Start every chunk of a document with its context, `Title › Heading › Subheading`, instead of the bare heading
   * line, so that the title and the heading path are embedded and keyword-indexed with the text (a FAQ's question
   * is its title; a manual section's name is its title). The gateway turns it on (config.chunking); docs/EVAL.md has
   * the before/after. Off here, the chunks start with the section's own heading line.
   */
  contextHeader?: boolean;
}

export const CONTEXT_SEPARATOR = ' › ';

/**
 * The chunker's own version, part of the signature stored with every document's chunks (`chunked_with`): bump it
 * whenever chunkMarkdown's output (or a document citation) changes for some input, so that stored documents are
 * re-chunked on their next ingest instead of being answered "unchanged" from the row. chunker.test.ts pins the
 * output of a fixed document and fails with this reminder when it changes.
 */
export const CHUNKER_VERSION = 1;

export const DEFAULT_CHUNKING: ChunkingOptions = { targetTokens: 350, overlapTokens: 0 };

export interface TextChunk {
  index: number;
  text: string;
  /** Headings from the outermost to the one the chunk sits under; empty before the first heading. */
  headingPath: string[];
  /** "2" or "2.1": the position of that heading among the document's sections; null before the first heading. */
  sectionNumber: string | null;
}

interface Unit {
  text: string;
  /** What joins this unit to the previous one in the same chunk. */
  sep: string;
  tokens: number;
  listItem?: boolean;
  /** A fenced code block: split by lines, never re-flowed. */
  code?: boolean;
}

interface Section {
  headingLine: string | null;
  headingPath: string[];
  sectionNumber: string | null;
  units: Unit[];
}

// CommonMark: an optional closing run of '#' counts only after whitespace, so "## Using C#" keeps its '#'.
const HEADING = /^ {0,3}(#{1,6})\s+(.+?)(?:\s+#+)?\s*$/;
const LIST_ITEM = /^\s*([-*+]|\d+[.)])\s+/;
const FENCE = /^\s*(```|~~~)/;

/**
 * Splits markdown or plain text into chunks that respect structure: a chunk never crosses a heading, keeps
 * paragraphs and list items whole when they fit, and never splits a sentence unless that sentence alone exceeds
 * the target. Every chunk of a section starts with the section's heading line so it reads (and embeds) in context.
 * A leading `# Title` equal to the document title is not part of the heading path.
 */
export function chunkMarkdown(
  title: string,
  text: string,
  options: ChunkingOptions = DEFAULT_CHUNKING,
): TextChunk[] {
  const sections = parseSections(title, text);
  if (options.contextHeader === true) {
    const t = title.replace(/\s+/g, ' ').trim();
    for (const s of sections)
      s.headingLine = [t, ...s.headingPath].filter((x) => x !== '').join(CONTEXT_SEPARATOR) || null;
  }
  return packSections(sections, options);
}

/** A ticket: the subject as heading, each message a paragraph prefixed by its author. */
export function chunkTicket(
  subject: string,
  messages: readonly { author: string; body: string }[],
  options: ChunkingOptions = DEFAULT_CHUNKING,
): TextChunk[] {
  const units = messages.flatMap((m) =>
    sentenceUnits(`${m.author === 'agent' ? 'Agent' : 'Customer'}: ${m.body.trim()}`, '\n\n'),
  );
  const section: Section = {
    headingLine: `Subject: ${subject.trim()}`,
    headingPath: [subject.trim()],
    sectionNumber: null,
    units,
  };
  return packSections([section], options);
}

function parseSections(title: string, text: string): Section[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const titleLine = findTitleLine(lines, title);
  const headingLevels = headingLines(lines)
    .filter((h) => h.line !== titleLine)
    .map((h) => h.level);
  const minLevel = headingLevels.length > 0 ? Math.min(...headingLevels) : 1;

  const sections: Section[] = [];
  let current: Section = { headingLine: null, headingPath: [], sectionNumber: null, units: [] };
  const stack: { level: number; text: string }[] = [];
  const counters: number[] = [];
  let paragraph: string[] = [];
  let fence: string[] | null = null;

  const flushParagraph = (): void => {
    const joined = paragraph.join(' ').replace(/\s+/g, ' ').trim();
    paragraph = [];
    if (joined) current.units.push(...sentenceUnits(joined, '\n\n'));
  };
  const lastIsListItem = (): boolean => current.units[current.units.length - 1]?.listItem === true;

  for (const [lineNo, line] of lines.entries()) {
    if (fence !== null) {
      fence.push(line);
      if (FENCE.test(line)) {
        const code = fence.join('\n');
        current.units.push({ text: code, sep: '\n\n', tokens: countTokens(code), code: true });
        fence = null;
      }
      continue;
    }
    if (FENCE.test(line)) {
      flushParagraph();
      fence = [line];
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flushParagraph();
      const level = heading[1].length;
      const headingText = heading[2].trim();
      if (lineNo === titleLine) continue;
      if (current.units.length > 0) sections.push(current);
      while (stack.length > 0 && stack[stack.length - 1].level >= level) stack.pop();
      stack.push({ level, text: headingText });
      const depth = Math.max(0, level - minLevel);
      counters.length = depth + 1;
      for (let i = 0; i <= depth; i++) counters[i] ??= 0;
      counters[depth] += 1;
      current = {
        headingLine: line.trim(),
        headingPath: stack.map((s) => s.text),
        sectionNumber: counters.join('.'),
        units: [],
      };
      continue;
    }
    if (line.trim() === '') {
      flushParagraph();
      continue;
    }
    if (LIST_ITEM.test(line)) {
      // Each list item is a unit of its own, joined to its siblings by a single newline, so items stay whole.
      flushParagraph();
      const sep = lastIsListItem() ? '\n' : '\n\n';
      current.units.push(...sentenceUnits(line.trim(), sep).map((u) => ({ ...u, listItem: true })));
      continue;
    }
    if (paragraph.length === 0 && lastIsListItem() && /^\s{2,}\S/.test(line)) {
      const last = current.units[current.units.length - 1];
      last.text = `${last.text} ${line.trim()}`;
      last.tokens = countTokens(last.text);
      continue;
    }
    paragraph.push(line.trim());
  }
  if (fence !== null) {
    const code = fence.join('\n');
    current.units.push({ text: code, sep: '\n\n', tokens: countTokens(code), code: true });
  }
  flushParagraph();
  if (current.units.length > 0) sections.push(current);
  return sections;
}

/** Headings outside fenced code blocks, with their line numbers. */
function headingLines(lines: string[]): { line: number; level: number; text: string }[] {
  const out: { line: number; level: number; text: string }[] = [];
  let inFence = false;
  lines.forEach((l, i) => {
    if (FENCE.test(l)) inFence = !inFence;
    else if (!inFence) {
      const m = HEADING.exec(l);
      if (m) out.push({ line: i, level: m[1].length, text: m[2].trim() });
    }
  });
  return out;
}

/**
 * The line of a leading `# Title` that repeats the document title (it is the document, not a section), or -1.
 * It must be the first heading and come before any content.
 */
function findTitleLine(lines: string[], title: string): number {
  const first = headingLines(lines)[0];
  if (!first || first.level !== 1 || !sameText(first.text, title)) return -1;
  return lines.slice(0, first.line).every((l) => l.trim() === '') ? first.line : -1;
}

function sameText(a: string, b: string): boolean {
  const norm = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, ' ')
      .trim();
  return norm(a) === norm(b);
}

const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

function sentenceUnits(text: string, firstSep: string): Unit[] {
  return [...segmenter.segment(text)]
    .map((s) => s.segment.trim())
    .filter((s) => s.length > 0)
    .map((s, i) => ({ text: s, sep: i === 0 ? firstSep : ' ', tokens: countTokens(s) }));
}

function packSections(sections: Section[], options: ChunkingOptions): TextChunk[] {
  if (!Number.isInteger(options.targetTokens) || options.targetTokens < 32) {
    throw new RangeError('targetTokens must be an integer >= 32');
  }
  if (
    !Number.isInteger(options.overlapTokens) ||
    options.overlapTokens < 0 ||
    options.overlapTokens >= options.targetTokens / 2
  ) {
    throw new RangeError('overlapTokens must be an integer >= 0 and below half of targetTokens');
  }
  const chunks: TextChunk[] = [];
  for (const section of sections) {
    const head = section.headingLine;
    const budget = Math.max(16, options.targetTokens - (head ? countTokens(head) + 1 : 0));
    let parts: Unit[] = [];
    let used = 0;
    let fresh = 0; // units in `parts` not already emitted as overlap
    const emit = (): void => {
      const body = parts.map((u, i) => (i === 0 ? u.text : u.sep + u.text)).join('');
      chunks.push({
        index: chunks.length,
        text: head ? `${head}\n\n${body}` : body,
        headingPath: section.headingPath,
        sectionNumber: section.sectionNumber,
      });
      const carry: Unit[] = [];
      let carried = 0;
      for (let i = parts.length - 1; i >= 0; i--) {
        if (carried + parts[i].tokens > options.overlapTokens) break;
        carry.unshift(parts[i]);
        carried += parts[i].tokens;
      }
      parts = carry;
      used = carried;
      fresh = 0;
    };
    for (const unit of section.units.flatMap((u) => (u.tokens > budget ? splitLongUnit(u, budget) : [u]))) {
      if (fresh > 0 && used + unit.tokens > budget) emit();
      if (used + unit.tokens > budget) {
        parts = [];
        used = 0;
      }
      parts.push(unit);
      used += unit.tokens;
      fresh += 1;
    }
    if (fresh > 0) emit();
  }
  return chunks;
}

/**
 * Only a sentence longer than the whole budget is cut, at word boundaries. Word token counts are summed (a word
 * with its leading space tokenizes the same alone as in context, near enough), keeping this linear in the text.
 */
function splitLongUnit(unit: Unit, budget: number): Unit[] {
  if (unit.code) return splitCode(unit, budget);
  const out: Unit[] = [];
  let current: string[] = [];
  let tokens = 0;
  const push = (): void => {
    const text = current.join(' ');
    out.push({
      text,
      sep: out.length === 0 ? unit.sep : ' ',
      tokens: countTokens(text),
      listItem: unit.listItem,
    });
  };
  // A "word" longer than the whole budget (a URL, a base64 blob) is cut into slices first.
  const words = unit.text.split(/\s+/).flatMap((w) => (w.length > budget ? sliceWord(w, budget) : [w]));
  for (const w of words) {
    const t = countTokens(` ${w}`);
    if (current.length > 0 && tokens + t > budget) {
      push();
      current = [];
      tokens = 0;
    }
    current.push(w);
    tokens += t;
  }
  if (current.length > 0) push();
  return out;
}

/** Slices of at most budget/2 characters: even at two tokens per character that stays within the budget. */
function sliceWord(word: string, budget: number): string[] {
  const size = Math.max(8, Math.floor(budget / 2));
  const out: string[] = [];
  for (let i = 0; i < word.length; i += size) out.push(word.slice(i, i + size));
  return out;
}

/** A code block over the budget is cut between lines, keeping its line breaks. */
function splitCode(unit: Unit, budget: number): Unit[] {
  const out: Unit[] = [];
  let current: string[] = [];
  let tokens = 0;
  const push = (): void => {
    const text = current.join('\n');
    out.push({ text, sep: out.length === 0 ? unit.sep : '\n', tokens: countTokens(text), code: true });
  };
  for (const line of unit.text.split('\n')) {
    const t = countTokens(line) + 1;
    if (current.length > 0 && tokens + t > budget) {
      push();
      current = [];
      tokens = 0;
    }
    current.push(line);
    tokens += t;
  }
  if (current.length > 0) push();
  return out;
}
