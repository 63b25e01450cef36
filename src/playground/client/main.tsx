/**
 * The browser side of the playground: GraphiQL 5 (Monaco editors) with the gateway's example tabs. Bundled by
 * src/playground/build-assets.ts into one script, one stylesheet and three Monaco workers; it loads nothing else.
 */
import { createGraphiQLFetcher, type Fetcher, type Storage } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { Kind, parse } from 'graphql';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import './playground.css';

interface ExampleTab {
  query: string;
  variables: string;
  headers: string;
}

interface Bootstrap {
  endpoint: string;
  mode: 'on' | 'admin';
  devTokens: boolean;
  tabs: ExampleTab[];
}

// Workers are separate bundles next to this script (see build-assets.ts); resolve them from where it was loaded,
// so the page works under any path prefix. `currentScript` is only set while the script first runs.
const assetsBase = new URL('.', (document.currentScript as HTMLScriptElement | null)?.src ?? location.href);
const WORKERS: Record<string, string> = { json: 'json.worker.js', graphql: 'graphql.worker.js' };

(globalThis as unknown as { MonacoEnvironment: unknown }).MonacoEnvironment = {
  getWorker(_workerId: string, label: string): Worker {
    return new Worker(new URL(WORKERS[label] ?? 'editor.worker.js', assetsBase));
  },
};

/**
 * Tabs, history and headers live in memory only: every load starts from the server's examples (with fresh tokens
 * in development), and no token is left behind in the browser's localStorage.
 */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  clear(): void {
    this.items.clear();
  }
}

function readBootstrap(): Bootstrap {
  const element = document.getElementById('playground-bootstrap');
  if (element?.textContent == null) throw new Error('playground bootstrap data missing from the page');
  return JSON.parse(element.textContent) as Bootstrap;
}

function main(): void {
  const bootstrap = readBootstrap();
  const container = document.getElementById('playground');
  if (container === null) throw new Error('#playground element missing');
  container.className = 'playground';
  container.textContent = '';
  const base = createGraphiQLFetcher({ url: new URL(bootstrap.endpoint, location.href).toString() });
  // GraphiQL 5 can keep the previous tab's operationName after a tab switch (Bob's query went out named
  // RetrieveAsAlice: OPERATION_RESOLUTION_FAILURE). A document with one operation names it itself.
  const fetcher: Fetcher = (params, options) => {
    let only: string | undefined;
    try {
      const operations = parse(params.query).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      if (operations.length === 1) only = operations[0].name?.value;
    } catch {
      // Not parseable: let the server say why.
    }
    return base(only === undefined ? params : { ...params, operationName: only }, options);
  };
  createRoot(container).render(
    <StrictMode>
      <GraphiQL
        fetcher={fetcher}
        defaultTabs={bootstrap.tabs}
        // GraphiQL 5 fills the first tab's query from defaultTabs but not its variables and headers: pass them.
        initialQuery={bootstrap.tabs[0]?.query}
        initialVariables={bootstrap.tabs[0]?.variables}
        initialHeaders={bootstrap.tabs[0]?.headers}
        defaultEditorToolsVisibility="headers"
        storage={new MemoryStorage()}
        shouldPersistHeaders={false}
      >
        <GraphiQL.Logo>
          support-rag-gateway
          <span className="playground-mode">
            {bootstrap.devTokens ? 'development: demo tokens preloaded' : `playground: ${bootstrap.mode}`}
          </span>
        </GraphiQL.Logo>
      </GraphiQL>
    </StrictMode>,
  );
}

main();
