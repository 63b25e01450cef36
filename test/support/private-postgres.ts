import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A throwaway PostgreSQL cluster that a test may stop, restart and crash at will: initdb in a temp directory,
 * started with pg_ctl on a free port. Never the shared server on 5432, which other tests and people use.
 *
 * Root cannot run PostgreSQL, so as root every command runs as the `postgres` user through runuser; as any other
 * user the binaries run directly. The binaries are those of the newest server under /usr/lib/postgresql (or
 * PG_BINDIR), the same ones scripts/install-pgvector.sh installs pgvector for.
 */
export interface PrivatePostgres {
  url: string;
  port: number;
  dataDir: string;
  /** `fast` ends sessions cleanly (SIGINT); `immediate` is a crash (no checkpoint, recovery at next start). */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  restart(mode?: 'fast' | 'immediate'): void;
  /** SIGSTOP / SIGCONT to the postmaster and every backend: a server that accepts TCP but never answers. */
  freeze(): void;
  thaw(): void;
  /** Stops the server (if running) and removes the directory. */
  destroy(): void;
}

export function postgresBinDir(): string | undefined {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const majors = fs
    .readdirSync(base)
    .filter((d) => /^\d+$/.test(d) && fs.existsSync(path.join(base, d, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length > 0 ? path.join(base, majors[0], 'bin') : undefined;
}

/**
 * Why a private cluster cannot be created on this machine, or undefined when it can (checked synchronously, so a
 * test file can choose `describe.skip` with the reason). A cluster that then fails to start is a test failure.
 */
export function privatePostgresUnavailable(): string | undefined {
  const bin = postgresBinDir();
  if (bin === undefined) return 'no PostgreSQL server binaries under /usr/lib/postgresql (or PG_BINDIR)';
  if (!fs.existsSync(path.join(bin, 'initdb'))) return `no initdb in ${bin}`;
  const share = spawnSync(path.join(bin, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).stdout?.trim();
  if (share && !fs.existsSync(path.join(share, 'extension', 'vector.control'))) {
    return `pgvector is not installed for ${bin} (run npm run pgvector:install)`;
  }
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) {
    return 'running as root and there is no `postgres` user to run the server as';
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Creates and starts a cluster; throws with the reason (and the server log) when that is not possible here. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('no PostgreSQL server binaries (set PG_BINDIR)');
  const asRoot = process.getuid?.() === 0;
  const run = (tool: string, args: string[]): void => {
    const [cmd, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]]
      : [path.join(bin, tool), args];
    const res = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
    if (res.status !== 0) {
      throw new Error(
        `${tool} ${args.join(' ')} failed (${res.error?.message ?? `exit ${res.status}`}): ${res.stderr}${res.stdout}${logTail()}`,
      );
    }
  };
  // /tmp directories are created 0700 by mkdtemp: the server user must own its data directory.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-private-pg-'));
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'server.log');
  const logTail = (): string =>
    fs.existsSync(logFile) ? `\n--- server log ---\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}` : '';
  if (asRoot) execFileSync('chown', ['postgres:postgres', root]);
  const port = await freePort();
  try {
    run('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
  // Only TCP on 127.0.0.1, the socket in the cluster's own directory, and small memory: it is a test server.
  const serverOptions = [
    `-p ${port}`,
    `-c listen_addresses=127.0.0.1`,
    `-c unix_socket_directories=${root}`,
    `-c shared_buffers=32MB`,
    `-c max_connections=40`,
  ].join(' ');
  let running = false;
  const pg: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    start() {
      run('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions]);
      running = true;
    },
    stop(mode = 'fast') {
      run('pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60']);
      running = false;
    },
    restart(mode = 'fast') {
      pg.stop(mode);
      pg.start();
    },
    freeze() {
      // The postmaster first, then its children as they are after that: a backend forked between a scan of /proc
      // and the postmaster's stop was missed and answered requests through the whole freeze (seen in CI: retrievals
      // sent during a freeze answered ok). A stopped postmaster forks no more.
      // kill() only queues the signal: the postmaster, running on the other core, could still fork while /proc is
      // read, so the scan waits until it is seen stopped. Then every backend is stopped before freeze() returns.
      const postmaster = postmasterPid(dataDir);
      try {
        process.kill(postmaster, 'SIGSTOP');
        waitForState(postmaster, 'T');
        for (const pid of clusterPids(dataDir)) if (pid !== postmaster) process.kill(pid, 'SIGSTOP');
        for (const pid of clusterPids(dataDir)) if (pid !== postmaster) waitForState(pid, 'T');
      } catch (err) {
        pg.thaw(); // never leave a half-frozen cluster behind a failed test
        throw err;
      }
    },
    thaw() {
      for (const pid of clusterPids(dataDir)) process.kill(pid, 'SIGCONT');
    },
    destroy() {
      if (running) {
        try {
          pg.thaw();
        } catch {
          // not frozen, or gone
        }
        try {
          pg.stop('immediate');
        } catch {
          // already gone
        }
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    pg.start();
  } catch (err) {
    pg.destroy();
    throw err;
  }
  return pg;
}

/** The first line of postmaster.pid. */
function postmasterPid(dataDir: string): number {
  return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/**
 * Waits (at most 5 s) until the process's state in /proc is `state` ('T': stopped), or it is gone: ended, or a
 * zombie ('Z', 'X') that the stopped postmaster cannot reap.
 */
function waitForState(pid: number, state: string): void {
  const deadline = Date.now() + 5_000;
  for (;;) {
    let current: string;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      current = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    } catch {
      return; // ended meanwhile
    }
    if (current === state || current === 'Z' || current === 'X') return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not reach state ${state} (is ${current})`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

/** The postmaster and its children, read from /proc. */
function clusterPids(dataDir: string): number[] {
  const postmaster = postmasterPid(dataDir);
  const pids = [postmaster];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may contain spaces, so split after the closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}
