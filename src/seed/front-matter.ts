import YAML from 'yaml';

/** Splits `---\n<yaml>\n---\n<body>` into attributes and body; a file without front matter is all body. */
export function parseFrontMatter(source: string): { attributes: Record<string, unknown>; body: string } {
  const text = source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const m = /^---\n([\s\S]*?)\n---\n?/.exec(text);
  if (!m) return { attributes: {}, body: text };
  const parsed: unknown = YAML.parse(m[1]);
  if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
    throw new Error('front matter must be a YAML mapping');
  }
  return { attributes: (parsed ?? {}) as Record<string, unknown>, body: text.slice(m[0].length) };
}
