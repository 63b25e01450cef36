import { chunkMarkdown } from '../chunks/chunking/chunker';
import { htmlToMarkdown } from './html-source';

const PAGE = `<!DOCTYPE html>
<html><head><title>Refund policy</title><style>body { color: red }</style>
<script>track("page")</script><meta name="description" content="x"></head>
<body>
  <header><a href="/">Acme Help Center</a> <a href="/login">Log in</a></header>
  <nav><ul><li><a href="/a">Home</a></li><li>Orders</li></ul></nav>
  <main><article>
    <header><h1>Refunds</h1></header>
    <p>Refunds go back to the <a href="https://pay.example.com/card">original card</a> within <b>5</b> days.</p>
    <h2>Exceptions</h2>
    <ul><li>Gift cards</li><li>Final sale items</li></ul>
    <h3>Digital goods</h3>
    <p>Keys for user_id accounts are not refundable.</p>
    <pre><code>refund --order 42</code></pre>
    <table><tr><th>Method</th><th>Days</th></tr><tr><td>Card</td><td>5</td></tr><tr><td>PayPal | wallet</td><td>1</td></tr></table>
    <div style="display: none">Hidden promo</div>
    <p hidden>Also hidden</p>
    <form><label>Was this helpful?</label><button>Yes</button></form>
  </article></main>
  <aside>Related articles</aside>
  <footer>© Acme · Privacy Policy</footer>
</body></html>`;

describe('htmlToMarkdown', () => {
  it('keeps headings, lists, code and tables as Markdown and drops page furniture', () => {
    const { title, markdown } = htmlToMarkdown(PAGE);
    expect(title).toBe('Refund policy');
    expect(markdown).toBe(
      [
        '# Refunds',
        'Refunds go back to the original card within **5** days.',
        '## Exceptions',
        '-   Gift cards\n-   Final sale items',
        '### Digital goods',
        'Keys for user_id accounts are not refundable.',
        '```\nrefund --order 42\n```',
        '| Method | Days |\n| --- | --- |\n| Card | 5 |\n| PayPal \\| wallet | 1 |',
      ].join('\n\n'),
    );
    for (const gone of ['Log in', 'Home', 'track', 'color', 'Hidden', 'helpful', 'Related', 'Privacy'])
      expect(markdown).not.toContain(gone);
  });

  it('gives the chunker heading paths', () => {
    const { title, markdown } = htmlToMarkdown(PAGE);
    const paths = chunkMarkdown(title!, markdown).map((c) => c.headingPath);
    expect(paths).toContainEqual(['Refunds', 'Exceptions', 'Digital goods']);
  });

  it('takes the first <h1> as title without <title>, and none from a fragment without either', () => {
    expect(htmlToMarkdown('<h1>Shipping  FAQ</h1><p>Two days.</p>').title).toBe('Shipping FAQ');
    expect(htmlToMarkdown('<p>Just text</p>')).toEqual({ title: null, markdown: 'Just text' });
  });

  it('does not turn text into headings, nor escape ordinary characters', () => {
    expect(
      htmlToMarkdown('<p># not a heading</p><p>a_b *c* 1. d</p><h2><a href="#x"></a></h2>').markdown,
    ).toBe('\\# not a heading\n\na_b *c* 1. d');
  });
});
