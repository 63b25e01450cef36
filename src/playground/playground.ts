import fs from 'node:fs';
import path from 'node:path';
import { type ApolloServerPlugin } from '@apollo/server';
import express, { type Router } from 'express';
import { type Config } from '../config/config';
import { type GatewayContext } from '../graphql/context';
import { exampleTabs } from './examples';
import { adminOnlyIntrospection } from './introspection-guard';
import { ASSETS_PATH, renderPlaygroundPage } from './playground.page';

export const PLAYGROUND_PATH = '/playground';

/**
 * Everything the browser may load: same-origin files, inline styles (Monaco and React set style attributes), data:
 * fonts and images (GraphiQL inlines its fonts), blob: workers. Nothing from another origin, so an air-gapped
 * network sees the same page as a connected one, and a stray third-party URL would fail loudly in development.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface PlaygroundOptions {
  config: Config;
  /** Signs the development tokens in the example tabs; undefined when tokens are verified with public keys only. */
  jwtSecret: string | undefined;
  /** Path of the GraphQL endpoint, e.g. `/graphql`. */
  graphqlPath: string;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

export interface Playground {
  /** Serves the IDE (PLAYGROUND on or admin); passes everything else through. Mount before the GraphQL endpoint. */
  router: Router;
  /** Apollo's `introspection` option for this mode. */
  introspection: boolean;
  apolloPlugins: ApolloServerPlugin<GatewayContext>[];
}

/**
 * The offline GraphQL IDE (GraphiQL bundled from npm by `npm run build` into PLAYGROUND_ASSETS_DIR) and the
 * introspection policy that goes with each PLAYGROUND mode; replaces Apollo's CDN-loaded landing page.
 */
export function createPlayground(options: PlaygroundOptions): Playground {
  const { config, jwtSecret, graphqlPath, log } = options;
  const { mode, devTokens, assetsDir } = config.playground;
  const production = config.env === 'production';
  const router = express.Router();
  if (mode === 'off') {
    // Without the IDE, introspection keeps its old rule: open outside production (codegen, editors), closed in it.
    return { router, introspection: !production, apolloPlugins: [] };
  }
  const entry = path.join(assetsDir, 'playground.js');
  if (!fs.existsSync(entry)) {
    log('playground assets missing: run npm run build', { assetsDir });
  }

  router.get(PLAYGROUND_PATH, (_req, res) => {
    if (!fs.existsSync(entry)) {
      res
        .status(503)
        .type('text/plain')
        .send(`The playground is not built: run \`npm run build\` (expected ${entry}).\n`);
      return;
    }
    const withTokens = devTokens && !production;
    res
      .set({
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        // Development pages carry signed tokens: never cache them; the rest follows.
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
        'X-Content-Type-Options': 'nosniff',
      })
      .type('html')
      .send(
        renderPlaygroundPage({
          endpoint: graphqlPath,
          mode,
          devTokens: withTokens,
          tabs: exampleTabs(withTokens ? jwtSecret : undefined),
        }),
      );
  });
  router.use(
    ASSETS_PATH,
    express.static(assetsDir, {
      index: false,
      fallthrough: false,
      // File names are stable across builds: revalidate by ETag rather than cache blindly.
      cacheControl: true,
      maxAge: 0,
      setHeaders: (res) => res.setHeader('X-Content-Type-Options', 'nosniff'),
    }),
  );
  // A browser opening the endpoint or the root lands on the IDE (Apollo's landing page used to live on /graphql).
  router.get(['/', graphqlPath], (req, res, next) => {
    const wantsPage = req.accepts(['application/json', 'text/html']) === 'text/html';
    if (wantsPage && req.query.query === undefined) res.redirect(302, PLAYGROUND_PATH);
    else next();
  });
  return {
    router,
    introspection: mode === 'on' ? !production : true,
    apolloPlugins: mode === 'admin' ? [adminOnlyIntrospection(config)] : [],
  };
}
