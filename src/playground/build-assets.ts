import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { projectRoot } from '../common/project-root';

export interface AssetsSummary {
  outDir: string;
  files: { name: string; bytes: number }[];
  ms: number;
  /** False when the assets were already built from the same inputs. */
  built: boolean;
}

const STAMP = 'build-inputs.sha256';

/**
 * What the bundle is made of: the client sources, this script and the exact dependency versions. `npm run build`
 * runs before every CLI command (`npm run token`, …), so an unchanged bundle is not rebuilt (~6 s saved).
 */
function inputsHash(root: string): string {
  const hash = crypto.createHash('sha256');
  const clientDir = path.join(root, 'src/playground/client');
  const inputs = [
    ...fs
      .readdirSync(clientDir)
      .sort()
      .map((f) => path.join(clientDir, f)),
    path.join(root, 'package-lock.json'),
    path.join(root, 'src/playground/build-assets.ts'),
  ];
  for (const file of inputs) {
    hash.update(path.relative(root, file)).update('\0');
    if (fs.existsSync(file)) hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

function summarize(outDir: string, started: number, built: boolean): AssetsSummary {
  const files = fs
    .readdirSync(outDir)
    .filter((name) => name !== STAMP)
    .sort()
    .map((name) => ({ name, bytes: fs.statSync(path.join(outDir, name)).size }));
  return { outDir, files, ms: Date.now() - started, built };
}

/**
 * Bundles the browser side of the playground (GraphiQL + React + Monaco, from node_modules) into static files the
 * gateway serves itself: playground.js, playground.css and the three Monaco workers. Runs at build time
 * (`npm run build`); the running gateway needs no bundler and no network.
 */
export async function buildPlaygroundAssets(
  outDir: string,
  options: { force?: boolean } = {},
): Promise<AssetsSummary> {
  const started = Date.now();
  const root = projectRoot(__dirname);
  const hash = inputsHash(root);
  const stampFile = path.join(outDir, STAMP);
  if (!options.force && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim() === hash) {
    return summarize(outDir, started, false);
  }
  const fromRoot = (request: string): string => require.resolve(request, { paths: [root] });
  fs.rmSync(outDir, { recursive: true, force: true });
  const common: BuildOptions = {
    bundle: true,
    minify: true,
    target: 'es2022',
    format: 'iife',
    outdir: outDir,
    logLevel: 'warning',
    // Licence comments go to *.LEGAL.txt files beside the bundles instead of bloating them.
    legalComments: 'linked',
    define: { 'process.env.NODE_ENV': '"production"' },
    absWorkingDir: root,
  };
  await Promise.all([
    build({
      ...common,
      entryPoints: { playground: path.join(root, 'src/playground/client/main.tsx') },
      jsx: 'automatic',
      // Fonts GraphiQL and Monaco reference are inlined, so the stylesheet needs no further request.
      loader: { '.ttf': 'dataurl', '.woff': 'dataurl', '.woff2': 'dataurl', '.svg': 'dataurl' },
    }),
    build({
      ...common,
      entryPoints: {
        'editor.worker': fromRoot('monaco-editor/esm/vs/editor/editor.worker.js'),
        'json.worker': fromRoot('monaco-editor/esm/vs/language/json/json.worker.js'),
        'graphql.worker': fromRoot('monaco-graphql/esm/graphql.worker.js'),
      },
    }),
  ]);
  // Written last: an interrupted build leaves no stamp and is redone.
  fs.writeFileSync(stampFile, `${hash}\n`);
  return summarize(outDir, started, true);
}

const HELP = `Usage: node dist/src/playground/build-assets.js [--force] [OUT_DIR]

Bundles the playground (GraphiQL, React, Monaco from node_modules) into OUT_DIR (default dist/playground), the
directory the gateway serves (PLAYGROUND_ASSETS_DIR). Skipped when OUT_DIR was built from the same inputs; --force
rebuilds. Part of \`npm run build\`. Reports on stderr, so \`$(npm run --silent token …)\` captures only the token.`;

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log(HELP);
    process.exit(0);
  }
  const positional = args.filter((a) => !a.startsWith('--'));
  const outDir = path.resolve(positional[0] ?? path.join(projectRoot(__dirname), 'dist', 'playground'));
  buildPlaygroundAssets(outDir, { force: args.includes('--force') }).then(
    (summary) => {
      if (!summary.built) return;
      const total = summary.files.reduce((sum, f) => sum + f.bytes, 0);
      console.error(
        `playground assets: ${summary.files.length} files, ${(total / 1e6).toFixed(1)} MB in ${outDir} (${summary.ms} ms)`,
      );
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
