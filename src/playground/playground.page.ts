import { type ExampleTab } from './examples';

/** What the server hands the bundled client (src/playground/client/main.tsx) inside the page. */
export interface PlaygroundBootstrap {
  /** Path of the GraphQL endpoint on this origin. */
  endpoint: string;
  mode: 'on' | 'admin';
  /** Whether the example tabs carry signed demo tokens (development only). */
  devTokens: boolean;
  tabs: ExampleTab[];
}

export const ASSETS_PATH = '/playground/assets';

/**
 * The page loads only same-origin files; the Content-Security-Policy header (see playground.ts) makes the browser
 * refuse anything else. The bootstrap is a JSON data block, not a script, so `script-src 'self'` needs no exception;
 * `<` is escaped so no value can close the element.
 */
export function renderPlaygroundPage(bootstrap: PlaygroundBootstrap): string {
  const data = JSON.stringify(bootstrap).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>support-rag-gateway · GraphQL playground</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="${ASSETS_PATH}/playground.css" />
  </head>
  <body>
    <div id="playground" class="playground-loading">Loading the GraphQL playground…</div>
    <script type="application/json" id="playground-bootstrap">${data}</script>
    <script src="${ASSETS_PATH}/playground.js"></script>
  </body>
</html>
`;
}
