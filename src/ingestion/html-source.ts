import { createDocument, type DomElement } from '@mixmark-io/domino';
import TurndownService from 'turndown';

/** What a `.html`/`.htm` file contributes once converted: its own title, and Markdown the chunker understands. */
export interface HtmlConversion {
  /** The `<title>`, else the first `<h1>`; null when it has neither. */
  title: string | null;
  markdown: string;
}

/**
 * Page furniture, never content: scripts and styles, navigation, forms and embedded widgets. `header` and
 * `footer` only at page level: inside an `<article>` or `<main>` a header usually holds the article's own title.
 */
const DROPPED = [
  'head',
  'script',
  'style',
  'noscript',
  'template',
  'nav',
  'aside',
  'form',
  'button',
  'input',
  'select',
  'textarea',
  'iframe',
  'object',
  'embed',
  'svg',
  'canvas',
  'dialog',
  '[hidden]',
  '[aria-hidden="true"]',
  '[role="navigation"]',
  '[role="banner"]',
  '[role="contentinfo"]',
  '[role="complementary"]',
  '[role="search"]',
].join(', ');
const HIDDEN_STYLE = /(^|;)\s*(display\s*:\s*none|visibility\s*:\s*hidden)\b/i;

const oneLine = (s: string | null | undefined): string => (s ?? '').replace(/\s+/g, ' ').trim();

let converter: TurndownService | undefined;

/** One converter for the process: turndown's rules are fixed, and building them per file is wasted work. */
function turndown(): TurndownService {
  if (converter) return converter;
  const td = new TurndownService({
    headingStyle: 'atx',
    codeBlockStyle: 'fenced',
    bulletListMarker: '-',
    emDelimiter: '_',
    strongDelimiter: '**',
  });
  // Markdown escapes (`user\_id`, `1\.`) would reach the chunk text and the index; only a leading '#' is escaped,
  // so that a paragraph starting with one does not become a heading for the chunker.
  td.escape = (text: string) => text.replace(/^(\s*)(#{1,6}\s)/gm, '$1\\$2');
  // Links and images: their words, not their addresses (a URL in every chunk is index noise, not an answer).
  td.addRule('linkText', { filter: 'a', replacement: (content) => content });
  td.addRule('imageAlt', {
    filter: 'img',
    replacement: (_c, node) => oneLine((node as unknown as DomElement).getAttribute('alt')),
  });
  // A heading without words (an icon, an anchor) would read as a stray '#' line.
  td.addRule('emptyHeading', {
    filter: (node) => {
      const el = node as unknown as DomElement;
      return /^H[1-6]$/.test(el.nodeName) && oneLine(el.textContent) === '';
    },
    replacement: () => '',
  });
  // Tables as pipe tables of their cells' text: readable in a chunk, a row per line.
  td.addRule('table', {
    filter: 'table',
    replacement: (_content, node) => {
      const rows = Array.from((node as unknown as DomElement).querySelectorAll('tr'))
        .map((tr) =>
          Array.from(tr.children)
            .filter((c) => c.nodeName === 'TD' || c.nodeName === 'TH')
            .map((c) => oneLine(c.textContent).replace(/\|/g, '\\|')),
        )
        .filter((cells) => cells.some((c) => c !== ''));
      if (rows.length === 0) return '';
      const width = Math.max(...rows.map((r) => r.length));
      const line = (cells: string[]) =>
        `| ${[...cells, ...Array<string>(width - cells.length).fill('')].join(' | ')} |`;
      const [head, ...body] = rows;
      return `\n\n${[line(head), line(Array<string>(width).fill('---')), ...body.map(line)].join('\n')}\n\n`;
    },
  });
  converter = td;
  return td;
}

/**
 * HTML to the Markdown the chunker splits by headings (h1–h6 become `#`–`######`, so citations get heading
 * paths), with lists, paragraphs, code blocks and tables kept as readable text, and page furniture dropped: see
 * DROPPED, plus elements hidden by an inline style. One file's DOM at a time: the loader stays memory-flat.
 */
export function htmlToMarkdown(html: string): HtmlConversion {
  const doc = createDocument(html);
  const title =
    oneLine(doc.querySelector('title')?.textContent) || oneLine(doc.querySelector('h1')?.textContent);
  for (const el of Array.from(doc.querySelectorAll(DROPPED))) el.remove();
  for (const el of Array.from(doc.querySelectorAll('header, footer'))) {
    if (!el.parentElement?.closest('article, main')) el.remove();
  }
  for (const el of Array.from(doc.querySelectorAll('[style]'))) {
    if (HIDDEN_STYLE.test(el.getAttribute('style') ?? '')) el.remove();
  }
  // domino's nodes are the DOM nodes turndown expects (turndown itself parses with domino under Node).
  const markdown = doc.body ? turndown().turndown(doc.body) : '';
  return {
    title: title === '' ? null : title,
    markdown: markdown
      .replace(/[ \t]+$/gm, '')
      .replace(/\n{3,}/g, '\n\n')
      .trim(),
  };
}
