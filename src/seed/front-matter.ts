import matter from 'gray-matter';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import { isValidUserId } from '../auth/id-rules';
import { PRINCIPAL_PATTERN } from '../common/validation';
import { distance } from 'fastest-levenshtein';

/** What a document file's front matter may say; every key is optional. */
export type DocumentFrontMatter = {
  id?: string;
  title?: string;
  /** Principals as stored: user ids and `role:<name>` (`user:<id>` in the file is stored as `<id>`). */
  acl?: string[];
  metadata?: Record<string, unknown>;
};

const KEYS = ['id', 'title', 'acl', 'metadata'] as const;

/**
 * Bare principals that are almost certainly roles, not users: `acl: [agent]` grants a user whose id is "agent",
 * and nobody has that id, so the document would load and nobody could read it. Such an entry is refused unless
 * written `role:agent` or `user:agent`. Besides these words, any role the same ACL names as `role:<x>`, and any
 * the caller passes (the gateway's INGEST_ROLES, say), counts.
 */
const ROLE_WORDS = [
  'admin',
  'administrator',
  'agent',
  'agents',
  'all',
  'anyone',
  'contractor',
  'contractors',
  'editor',
  'employee',
  'everyone',
  'internal',
  'manager',
  'member',
  'owner',
  'partner',
  'partners',
  'public',
  'reader',
  'staff',
  'supervisor',
  'support',
  'viewer',
];

/** A front-matter mistake, with the file and line it is on (`file:line: message`). */
export class FrontMatterError extends Error {
  constructor(
    readonly file: string | undefined,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file ?? '(front matter)'}:${line}: ${problem}`);
    this.name = 'FrontMatterError';
  }
}

export interface FrontMatterOptions {
  /** Named in messages. */
  file?: string;
  /** More names that are roles, so that a bare `acl: [name]` is refused as above. */
  roleNames?: Iterable<string>;
}

/**
 * Splits `---\n<yaml>\n---\n<body>` (gray-matter) into checked attributes and body; a file without front matter
 * is all body. Refuses, with file and line, what would otherwise load quietly wrong: an opening `---` that is
 * never closed (the whole file would be front matter, or body with the ACL lost), front matter not on the first
 * line, YAML errors, keys other than id/title/acl/metadata (with a did-you-mean), values of the wrong type, and
 * bare principals that name a role.
 */
export function parseFrontMatter(
  source: string,
  options: FrontMatterOptions = {},
): { attributes: DocumentFrontMatter; body: string } {
  const { file } = options;
  const fail = (line: number, problem: string): never => {
    throw new FrontMatterError(file, line, problem);
  };
  const text = source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  if (!/^---/.test(text)) {
    const first = lines.findIndex((l) => l.trim() !== '');
    if (
      first > 0 &&
      lines[first].trimEnd() === '---' &&
      lines.slice(first + 1).some((l) => /^---\s*$/.test(l))
    ) {
      fail(first + 1, 'front matter must start on the first line (it would be read as body text)');
    }
    return { attributes: {}, body: text };
  }
  if (!/^---[^\n]*\n/.test(text) || !lines.slice(1).some((l) => /^---\s*$/.test(l))) {
    if (/^----/.test(text)) return { attributes: {}, body: text }; // a Markdown rule, not front matter
    fail(1, 'the front matter opened here is never closed by a line of ---');
  }
  // gray-matter splits and, with no options, caches by content; the YAML is parsed here (the `yaml` package
  // keeps positions, so each problem can name its line).
  const split = matter(text, { engines: { yaml: { parse: () => ({}) } } });
  if (split.language !== 'yaml') fail(1, `front matter must be YAML, not ${split.language}`);
  const counter = new LineCounter();
  const doc = parseDocument(split.matter, { lineCounter: counter, uniqueKeys: true, prettyErrors: false });
  // The matter starts right after the opening `---`, on the file's line 1 (its first character is the newline).
  const lineOf = (offset: number | undefined): number => counter.linePos(offset ?? 0).line;
  const nodeLine = (node: unknown): number => lineOf((node as Node | null)?.range?.[0]);
  if (doc.errors.length > 0)
    fail(lineOf(doc.errors[0].pos[0]), `YAML: ${doc.errors[0].message.split('\n')[0]}`);
  if (doc.contents === null) return { attributes: {}, body: split.content };
  if (!isMap(doc.contents))
    fail(nodeLine(doc.contents), 'front matter must be a YAML mapping (key: value lines)');
  const attributes: DocumentFrontMatter = {};
  const roleNames = new Set([...ROLE_WORDS, ...(options.roleNames ?? [])]);
  for (const pair of (doc.contents as { items: Pair[] }).items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const line = nodeLine(pair.key);
    const plain: unknown =
      isScalar(pair.value) || pair.value === null ? (pair.value?.toJSON() ?? null) : null;
    switch (key) {
      case 'id':
        if (!isScalar(pair.value) || (typeof plain !== 'string' && typeof plain !== 'number')) {
          fail(line, 'id must be a string');
        }
        attributes.id = String(plain);
        break;
      case 'title':
        if (!isScalar(pair.value) || typeof plain !== 'string' || plain.trim() === '') {
          fail(line, 'title must be a non-empty string (quote it if it looks like a number or date)');
        }
        attributes.title = plain as string;
        break;
      case 'acl':
        attributes.acl = readAcl(pair.value, line, roleNames, fail, nodeLine);
        break;
      case 'metadata':
        if (pair.value !== null && !isMap(pair.value))
          fail(line, 'metadata must be a mapping, e.g. { category: refund }');
        attributes.metadata = (pair.value === null ? {} : (pair.value as Node).toJSON()) as Record<
          string,
          unknown
        >;
        break;
      default: {
        const near = KEYS.find((k) => distance(k, key.toLowerCase()) <= 2);
        fail(
          line,
          `unknown key ${JSON.stringify(key)}${near ? ` (did you mean ${near}?)` : ''}: front matter takes ` +
            `${KEYS.join(', ')}; put anything else under metadata`,
        );
      }
    }
  }
  return { attributes, body: split.content };
}

function readAcl(
  node: unknown,
  line: number,
  roleNames: Set<string>,
  fail: (line: number, problem: string) => never,
  nodeLine: (node: unknown) => number,
): string[] {
  if (node === null) return [];
  if (!isSeq(node)) {
    return fail(
      line,
      'acl must be a list of principals, e.g. [role:agent, u7] (a single one still needs [ ])',
    );
  }
  const seq = node as { items: unknown[] };
  const entries = seq.items.map((item) => {
    const at = nodeLine(item) || line;
    if (!isScalar(item) || (typeof item.value !== 'string' && typeof item.value !== 'number')) {
      return fail(at, 'acl entries must be principals such as role:agent or a user id');
    }
    return { text: String(item.value).trim(), at };
  });
  const rolesHere = new Set(entries.filter((e) => e.text.startsWith('role:')).map((e) => e.text.slice(5)));
  return entries.map(({ text, at }) => {
    if (text.startsWith('user:')) {
      const id = text.slice(5);
      if (!isValidUserId(id))
        fail(at, `${JSON.stringify(text)}: ${JSON.stringify(id)} is not a valid user id`);
      return id;
    }
    if (!PRINCIPAL_PATTERN.test(text)) {
      fail(at, `acl entry ${JSON.stringify(text)} is not a user id or role:<name>`);
    }
    if (!text.startsWith('role:') && (roleNames.has(text.toLowerCase()) || rolesHere.has(text))) {
      fail(
        at,
        `acl entry ${JSON.stringify(text)} names a user called "${text}", which is almost certainly meant as a ` +
          `role: write role:${text} (or user:${text} if a user really has that id)`,
      );
    }
    return text;
  });
}
