import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { procCpuMs } from './load-harness';

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

/** CPU so far of every PostgreSQL server process on this machine (backends, WAL writer...), in ms, by pid. */
function postgresCpuMs(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const ms = procCpuMs(Number(p));
    if (Number.isFinite(ms)) byPid.set(Number(p), ms);
  }
  return byPid;
}

/** CPU used since `before` by the server processes alive now (one that exited meanwhile is not counted). */
function postgresCpuSince(before: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of postgresCpuMs()) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** Busy and idle time of the whole machine so far, from the first line of /proc/stat (clock ticks). */
function machineTicks(): { busy: number; idle: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], idle: f[3] + f[4] };
}

/**
 * Where a phase's CPU went, per item (request or ticket): the gateway process, the PostgreSQL server (all its
 * processes: a local server is assumed; with a remote one it reads 0), and this benchmark's own client, which
 * shares the machine's cores with them. `busy` is the share of the machine's CPU time that was used at all (the
 * rest idle: the phase waited on something else than CPU).
 */
export interface CpuSplit {
  gatewayMs: number;
  postgresMs: number;
  clientMs: number;
  busy: number;
}

export function cpuMeter(gatewayPid: number): { stop(items: number): CpuSplit } {
  const gateway = procCpuMs(gatewayPid);
  const postgres = postgresCpuMs();
  const client = process.cpuUsage();
  const ticks = machineTicks();
  return {
    stop(items: number): CpuSplit {
      const used = process.cpuUsage(client);
      const t = machineTicks();
      const busy = t.busy - ticks.busy;
      return {
        gatewayMs: (procCpuMs(gatewayPid) - gateway) / items,
        postgresMs: postgresCpuSince(postgres) / items,
        clientMs: (used.user + used.system) / 1000 / items,
        busy: busy / Math.max(1, busy + t.idle - ticks.idle),
      };
    },
  };
}
