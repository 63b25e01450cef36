import fs from 'node:fs';
import path from 'node:path';
import { EVAL_ACL } from './converters';

/**
 * A generated labelled set of scraped-looking HTML help pages (docs/EVAL.md, "HTML and boilerplate"): every page
 * carries the same site chrome in plain <div>s and sections — a log-in bar, a cookie banner, a "Still need help?"
 * section and a footer, whose words (account, orders, returns, support) also occur in the questions — so only
 * repetition tells the chrome from the content. Deterministic: the same folder every run.
 *
 *   npm run eval:html-set -- <out folder>       then   npm run eval -- <out folder>   (and --keep-boilerplate)
 */
const ACTIONS = [
  ['change', 'Changing', 'Open the edit form, type the new value and confirm with the code we text you.'],
  ['cancel', 'Cancelling', 'Cancellation is possible until dispatch; after that, start a return instead.'],
  ['export', 'Exporting', 'Exports are CSV files; large exports arrive by email within an hour.'],
  ['share', 'Sharing', 'Invite a colleague by email; they get read-only access until you promote them.'],
  ['archive', 'Archiving', 'Archived items disappear from lists but stay searchable for two years.'],
  ['verify', 'Verifying', 'Verification compares a photo ID with a selfie and takes about five minutes.'],
] as const;
const OBJECTS = [
  ['billing address', 'invoices and tax receipts use it'],
  ['delivery slot', 'couriers see it on their route sheet'],
  ['gift card', 'balances never expire in most countries'],
  ['loyalty points', 'points are credited a week after delivery'],
  ['subscription plan', 'plans renew on the first of each month'],
  ['payment card', 'cards are stored by our payment processor, never by us'],
  ['wishlist', 'wishlists hold up to 500 items'],
] as const;

const CHROME = {
  top: 'Acme Help Center. Log in to your account to track orders, manage returns and contact support.',
  cookies:
    'We use cookies to personalise content and ads. Accept all cookies or manage your cookie settings.',
  helpHeading: 'Still need help?',
  help: 'Contact our support team by chat or email: we answer questions about orders, returns and your account within 24 hours.',
  footer: 'Privacy Policy · Terms of Service · Shipping and returns · Accessibility · Sitemap',
};

function page(action: (typeof ACTIONS)[number], object: (typeof OBJECTS)[number], related: string[]): string {
  const [verb, gerund, detail] = action;
  const [noun, fact] = object;
  return `---
acl: [${EVAL_ACL.join(', ')}]
---
<!DOCTYPE html><html><head><title>${gerund} your ${noun} | Acme Help</title></head><body>
<div class="topbar">${CHROME.top}</div>
<div class="banner">${CHROME.cookies}</div>
<article>
<h1>${gerund} your ${noun}</h1>
<p>You can ${verb} your ${noun} from the settings page at any time; ${fact}.</p>
<h2>Steps</h2>
<ol><li>Go to Settings and select ${noun}.</li><li>Choose ${gerund.toLowerCase()}.</li><li>${detail}</li></ol>
<h2>If it does not work</h2>
<p>If you cannot ${verb} the ${noun}, sign out and back in, then try again on the website rather than the app.</p>
</article>
<div class="related"><h2>Related articles</h2><ul>${related.map((r) => `<li>${r}</li>`).join('')}</ul></div>
<h2>${CHROME.helpHeading}</h2>
<div>${CHROME.help}</div>
<div class="footer">${CHROME.footer}</div>
</body></html>
`;
}

export function writeHtmlSet(out: string): { documents: number; questions: number } {
  const docs = path.join(out, 'documents', 'acme-html');
  fs.mkdirSync(docs, { recursive: true });
  const titles = ACTIONS.flatMap((a) => OBJECTS.map((o) => `${a[1]} your ${o[0]}`));
  const questions: string[] = [];
  let n = 0;
  for (const a of ACTIONS) {
    for (const o of OBJECTS) {
      const id = `${a[0]}-${o[0].replace(/ /g, '-')}`;
      const related = [1, 2, 3].map((k) => titles[(n + k * 7) % titles.length]);
      fs.writeFileSync(path.join(docs, `${id}.html`), page(a, o, related));
      const asks = [
        `how do I ${a[0]} the ${o[0]} on my account?`,
        `${a[0]} ${o[0]} not working, contact support?`,
      ];
      asks.forEach((q, i) =>
        questions.push(
          JSON.stringify({ id: `${id}-${i}`, merchant: 'acme-html', question: q, relevant: [id] }),
        ),
      );
      n++;
    }
  }
  fs.writeFileSync(
    path.join(out, 'set.json'),
    `${JSON.stringify({ name: 'html-boilerplate', description: 'Generated HTML help pages with repeated site chrome (bench/eval/html-set.ts)' }, null, 2)}\n`,
  );
  fs.writeFileSync(path.join(out, 'questions.jsonl'), `${questions.join('\n')}\n`);
  return { documents: n, questions: questions.length };
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) {
    console.error('Usage: npm run eval:html-set -- <out folder>');
    process.exit(2);
  }
  console.log(JSON.stringify({ out, ...writeHtmlSet(path.resolve(out)) }));
}
