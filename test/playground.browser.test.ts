/**
 * The playground in a real browser: Debian's headless Chromium, driven by playwright-core, loads the page with every
 * request outside localhost blocked, runs the preloaded retrieveChunks examples through GraphiQL and reads the
 * results from the page. Saves docs/playground.png (shown in the README).
 *
 * Needs a chromium binary (CHROMIUM_PATH, /usr/bin/chromium or /usr/bin/chromium-browser; `.ci/run` installs
 * Debian's package through scripts/install-chromium.sh). Without one it skips with a message, except under CI=true,
 * where a missing browser is a failure, so CI cannot pass without running it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../src/common/project-root';
import { buildPlaygroundAssets, type AssetsSummary } from '../src/playground/build-assets';
import { startTestGateway, type TestGateway } from './support/test-gateway';

function findChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((c): c is string => c !== undefined && c !== '' && fs.existsSync(c));
}

const executablePath = findChromium();
if (executablePath === undefined) {
  const message =
    'playground browser test: no chromium found (CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/chromium-browser); ' +
    'install it with `sudo bash scripts/install-chromium.sh`';
  if (process.env.CI === 'true') throw new Error(`${message}. CI must run this test.`);
  console.warn(`SKIPPED: ${message}`);
}
const describeWithBrowser = executablePath === undefined ? describe.skip : describe;

const ROOT = projectRoot(__dirname);
const SCREENSHOT = path.join(ROOT, 'docs', 'playground.png');
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The response pane's text (Monaco renders spaces as no-break spaces). */
async function responseText(page: Page): Promise<string> {
  return (await page.locator('.graphiql-response').innerText()).replace(/\u00a0/g, ' ');
}

/** Polls the response pane until `done` holds (Monaco fills it asynchronously after the request returns). */
async function waitForResponse(
  page: Page,
  done: (text: string) => boolean,
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await responseText(page);
    if (done(text)) return text;
    if (Date.now() > deadline) throw new Error(`response pane never matched; last text:\n${text}`);
    await page.waitForTimeout(100);
  }
}

/**
 * Waits until the active tab's query editor shows its operation: under load Monaco fills the editor after the tab
 * is shown, and a click before that sends the operation name without its document.
 */
async function waitForEditor(page: Page, operation: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const editor = page.locator('.graphiql-query-editor');
  for (;;) {
    const text = (await editor.innerText().catch(() => '')).replace(/\u00a0/g, ' ');
    if (text.includes(`query ${operation}`) && text.includes('retrieveChunks')) return;
    if (Date.now() > deadline) throw new Error(`query editor never showed ${operation}; last text:\n${text}`);
    await page.waitForTimeout(100);
  }
}

function citations(text: string): string[] {
  return [...text.matchAll(/"citation":\s*"([^"]+)"/g)].map((m) => m[1]);
}

describeWithBrowser('playground in headless Chromium, offline', () => {
  let t: TestGateway;
  let browser: Browser;
  let assets: AssetsSummary;
  const requested: string[] = [];
  const blocked: string[] = [];
  const pageErrors: string[] = [];
  let page: Page;

  beforeAll(async () => {
    // The same directory `npm run build` fills; rebuilt only when the client or the dependencies changed.
    assets = await buildPlaygroundAssets(path.join(ROOT, 'dist', 'playground'));
    t = await startTestGateway({ env: { PLAYGROUND_ASSETS_DIR: assets.outDir } });
    browser = await chromium.launch({
      executablePath,
      headless: true,
      // Root in CI containers has no user namespaces for Chromium's sandbox.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const context = await browser.newContext({
      viewport: { width: 1400, height: 860 },
      serviceWorkers: 'block',
    });
    // Every request the page and its workers make passes here: localhost goes through, anything else is refused.
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      requested.push(url.href);
      if (LOCAL_HOSTS.has(url.hostname)) await route.continue();
      else {
        blocked.push(url.href);
        await route.abort('blockedbyclient');
      }
    });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('loads from the gateway alone and runs retrieveChunks as Alice and as Bob', async () => {
    const started = Date.now();
    await page.goto(t.url.replace(/\/graphql$/, '/playground'));
    await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
    expect(await page.locator('.graphiql-tab').allInnerTexts()).toEqual([
      'RetrieveAsAlice',
      'RetrieveAsBob',
      'IngestAsAda',
    ]);
    const loadMs = Date.now() - started;

    // Alice: the first tab, with her development token in the Headers editor.
    await waitForEditor(page, 'RetrieveAsAlice');
    await page.locator('.graphiql-execute-button').click();
    const alice = await waitForResponse(page, (text) => text.includes('"retrieveChunks"'));
    expect(alice).not.toContain('"errors"');
    expect(citations(alice)).toEqual(expect.arrayContaining(['Refund Policy §1 Refund window', 'Ticket t5']));

    // The schema docs come from introspection through the same endpoint.
    await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.getByText('Mutation').first().waitFor({ timeout: 15_000 });
    expect(await docs.innerText()).toMatch(/Query[\s\S]*Mutation/);
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });

    // Bob: same question shape, his token; only refund content (d7, t1, t5) may come back.
    await page.locator('.graphiql-tab', { hasText: 'RetrieveAsBob' }).click();
    await page.locator('.graphiql-tab.graphiql-tab-active', { hasText: 'RetrieveAsBob' }).waitFor();
    await waitForEditor(page, 'RetrieveAsBob');
    await page.locator('.graphiql-execute-button').click();
    const bob = await waitForResponse(page, (text) => text.includes('"retrieveChunks"'));
    expect(bob).not.toContain('"errors"');
    expect(citations(bob).length).toBeGreaterThan(0);
    for (const c of citations(bob)) expect(c).toMatch(/^(Refund Policy|Ticket t1$|Ticket t5$)/);

    // Nothing left the machine, and nothing was even attempted.
    expect(blocked).toEqual([]);
    expect(requested.length).toBeGreaterThan(0);
    for (const url of requested) expect(LOCAL_HOSTS.has(new URL(url).hostname)).toBe(true);
    expect(pageErrors).toEqual([]);
    const bytes = assets.files.reduce((sum, f) => sum + f.bytes, 0);
    console.log(
      `playground: ${requested.length} requests, all to localhost; page ready in ${loadMs} ms; ` +
        `assets ${(bytes / 1e6).toFixed(1)} MB (${assets.built ? `built in ${assets.ms} ms` : 'up to date'})`,
    );
  }, 120_000);
});
