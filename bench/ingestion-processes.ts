import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Runs a command as a user would, returning wall seconds, peak RSS of the process tree's node (KiB) and output. */
export function runCommand(
  cwd: string,
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ seconds: number; output: string; peakRssKiB: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let peak = 0;
    const poll = setInterval(() => (peak = Math.max(peak, treeRssKiB(child.pid))), 250);
    child.on('exit', (code) => {
      clearInterval(poll);
      if (code === 0) resolve({ seconds: (performance.now() - t0) / 1000, output, peakRssKiB: peak });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${output.slice(-3000)}`));
    });
  });
}

/** The largest RSS among a process and its descendants (npm → sh → node). */
export function treeRssKiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  let max = 0;
  const visit = (p: number): void => {
    try {
      const rss = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (rss) max = Math.max(max, Number(rss[1]));
      for (const c of fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/))
        if (c) visit(Number(c));
    } catch {
      // exited meanwhile
    }
  };
  visit(pid);
  return max;
}

/** The same database as the request role srg_gateway (BENCH_GATEWAY_DATABASE_URL overrides). */
export function requestRoleUrl(ownerUrl: string): string {
  const explicit = process.env.BENCH_GATEWAY_DATABASE_URL?.trim();
  if (explicit) return explicit;
  const u = new URL(ownerUrl);
  u.username = 'srg_gateway';
  u.password = process.env.SRG_GATEWAY_PASSWORD ?? '';
  return u.toString();
}
