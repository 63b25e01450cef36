// The build every npm script runs first (`npm run build`, `npm start`, `npm run load|token|...`).
//
// A full `tsc` takes ~15 s and dominated every command's wall time, so the build is skipped when nothing it is
// made of changed: a SHA-256 over the content of every input (the folders tsconfig.build.json compiles, the
// tsconfigs, package-lock.json) is compared with the one stored in dist/ after the last successful build. Content,
// not mtimes: a `git checkout` back and forth or a copy with fresh mtimes does not force a rebuild, and an edit
// that keeps the mtime (rsync -t, clock skew) is not missed. Hashing the ~400 inputs takes ~30 ms.
//
// Plain JavaScript on purpose: it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HELP = `Usage: npm run build [-- --force]

Compiles src/, migrations/, scripts/ and bench/ into dist/ (tsc -p tsconfig.build.json) and bundles the playground
into dist/playground/. Skipped when no input changed since the last successful build (a content hash stored in
dist/${'.build-inputs.sha256'}); --force builds anyway. Every npm script that runs a command builds this way first.`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = path.join(root, 'dist', '.build-inputs.sha256');
const INPUT_DIRS = ['src', 'migrations', 'scripts', 'bench'];
const INPUT_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];

function* walk(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // a folder that does not exist is simply no input
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(full);
    else if (e.isFile()) yield full;
  }
}

function inputsHash() {
  const hash = crypto.createHash('sha256');
  hash.update(process.version).update('\0'); // a different Node may need another build (decorator metadata is not, but cheap to be safe)
  const files = [
    ...INPUT_DIRS.flatMap((d) => [...walk(path.join(root, d))]),
    ...INPUT_FILES.map((f) => path.join(root, f)),
  ];
  for (const file of files) {
    hash.update(path.relative(root, file)).update('\0');
    if (fs.existsSync(file)) hash.update(fs.readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function run(args) {
  // Everything on stderr: `TOKEN=$(npm run --silent token -- ...)` captures only the command's own output.
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: [0, 2, 2] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}
const unknown = args.filter((a) => a !== '--force');
if (unknown.length > 0) {
  console.error(`build: unknown argument ${unknown[0]}\n\n${HELP}`);
  process.exit(2);
}

const hash = inputsHash();
const stored = fs.existsSync(STAMP) ? fs.readFileSync(STAMP, 'utf8').trim() : '';
const complete = fs.existsSync(path.join(root, 'dist', 'src', 'main.js'));
if (!args.includes('--force') && complete && stored === hash) process.exit(0);

// Removed first: a build that fails half-way must not leave a stamp that says dist/ matches the sources.
fs.rmSync(STAMP, { force: true });
run([path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
run([
  path.join(root, 'dist', 'src', 'playground', 'build-assets.js'),
  ...(args.includes('--force') ? ['--force'] : []),
]);
// The hash of the inputs as they were when the build started: an edit during the build is caught next time.
fs.writeFileSync(STAMP, `${hash}\n`);
