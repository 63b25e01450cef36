import { buildGatewayScript, type GatewayProcess, spawnGateway, tokenFor } from '../support/gateway-process';
import {
  type PrivatePostgres,
  privatePostgresUnavailable,
  startPrivatePostgres,
} from '../support/private-postgres';
import { ALICE } from '../support/test-gateway';

/**
 * The gateway (a real process, over HTTP) under steady retrieval load while its PostgreSQL restarts, stops for a
 * few seconds, crashes and freezes. Runs on a private throwaway cluster, never on the shared server.
 *
 * What must hold: every request ends with data or SERVICE_UNAVAILABLE (never an internal error), none takes
 * longer than the gateway's own bounds (connect + statement timeout), failures come fast while the database is
 * down, the gateway serves again within seconds of the database being back, and the process never dies.
 */
const unavailable = privatePostgresUnavailable();
// The test brings its own server, so the backend of the pass does not matter: CI runs it once, in the native pass
// (it is on jest.config.js's backend-independent list, which the embedded pass leaves out).
if (unavailable)
  process.stderr.write(
    `[faults] database restart tests skipped: cannot create a private PostgreSQL cluster: ${unavailable}\n`,
  );
const describeIfCluster = unavailable ? describe.skip : describe;

// The production defaults (DB_CONNECT_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS unset): what a real deployment gets.
const CONNECT_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 15_000;
/** The client-side read timeout the gateway derives from the statement timeout (see src/db/database.ts). */
const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 2_000;
/**
 * What the database watchdog (src/db/database.ts) allows a query on an unresponsive server: 2 s without a reply,
 * then a probe of at most 3 s, checked every 0.5 s.
 */
const WATCHDOG_MS = 5_500;
/**
 * No request may take longer than waiting for a connection plus the watchdog, plus slack for a loaded machine:
 * well under the query read timeout (17 s) that bounded a frozen server before the watchdog.
 */
const REQUEST_BOUND_MS = CONNECT_TIMEOUT_MS + WATCHDOG_MS + 2_000;
/** Longer than the read timeout: a gateway that waited for a frozen server until then would exceed the bound. */
const FREEZE_MS = QUERY_TIMEOUT_MS + 1_000;
const RECOVERY_BOUND_MS = 5_000;
const WORKERS = 6;

const RETRIEVE = `query($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { documentId } } }`;

interface Sample {
  start: number;
  end: number;
  /** 'ok', an error code, or CLIENT_<name> when the HTTP request itself failed. */
  outcome: string;
}

describeIfCluster('database restart under load (private PostgreSQL cluster)', () => {
  let pg: PrivatePostgres;
  let build: ReturnType<typeof buildGatewayScript>;
  let gw: GatewayProcess;
  const samples: Sample[] = [];
  let running = false;
  let load: Promise<void>[] = [];

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    build = buildGatewayScript();
    gw = await spawnGateway(build.main, {
      DATABASE_URL: pg.url,
      SEED_ON_EMPTY: 'true',
      // The load loops run as fast as the gateway answers: rate limits would turn most of them into RATE_LIMITED.
      RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
      RATE_LIMIT_CALLER_PER_MINUTE: '0',
    });
  }, 120_000);

  afterAll(async () => {
    running = false;
    await Promise.all(load);
    await gw?.kill9();
    pg?.destroy();
    build?.remove();
  });

  /** Each worker sends one retrieval after another, as Alice, recording how and when it ended. */
  const startLoad = (): void => {
    running = true;
    const token = tokenFor(ALICE);
    load = Array.from({ length: WORKERS }, async (_, w) => {
      let n = 0;
      while (running) {
        const start = Date.now();
        let outcome: string;
        try {
          const res = await fetch(gw.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({
              query: RETRIEVE,
              variables: { input: { query: `refund policy ${w} ${n++ % 7}`, k: 3 } },
            }),
            signal: AbortSignal.timeout(30_000),
          });
          const body = (await res.json()) as {
            data?: { retrieveChunks?: { chunks: unknown[] } } | null;
            errors?: { extensions?: { code?: string } }[];
          };
          outcome = body.errors?.length
            ? (body.errors[0].extensions?.code ?? 'NO_CODE')
            : (body.data?.retrieveChunks?.chunks.length ?? 0) > 0
              ? 'ok'
              : 'EMPTY';
        } catch (err) {
          outcome = `CLIENT_${(err as Error).name}`;
        }
        samples.push({ start, end: Date.now(), outcome });
      }
    });
  };

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  /** Time from `since` until the first request that started after it succeeded. */
  const recoveredAfter = async (since: number): Promise<number> => {
    const deadline = since + 30_000;
    while (Date.now() < deadline) {
      const ok = samples.find((s) => s.start >= since && s.outcome === 'ok');
      if (ok) return ok.end - since;
      await sleep(100);
    }
    return Infinity;
  };

  const describeSamples = (list: Sample[]): string => {
    const counts = new Map<string, number>();
    for (const s of list) counts.set(s.outcome, (counts.get(s.outcome) ?? 0) + 1);
    return JSON.stringify(Object.fromEntries(counts));
  };

  /** Every request ended with data or SERVICE_UNAVAILABLE; otherwise show what the gateway logged about it. */
  const expectOnlyOkOrUnavailable = (): void => {
    const unexpected = samples.filter((s) => s.outcome !== 'ok' && s.outcome !== 'SERVICE_UNAVAILABLE');
    const internalErrors = gw
      .output()
      .split('\n')
      .filter((line) => line.includes('"internal error"'));
    expect({ unexpected: describeSamples(unexpected), internalErrors }).toEqual({
      unexpected: '{}',
      internalErrors: [],
    });
  };

  it('fails in-flight and new requests fast with SERVICE_UNAVAILABLE and serves again within seconds', async () => {
    startLoad();
    await sleep(1_500);
    const warm = samples.filter((s) => s.outcome === 'ok').length;
    expect(warm).toBeGreaterThan(0);

    // 1. A clean restart (sessions terminated with 57P01).
    pg.restart('fast');
    const afterRestart = await recoveredAfter(Date.now());

    // 2. Down for three seconds: new connections are refused.
    await sleep(1_000);
    pg.stop('fast');
    const downFrom = Date.now();
    await sleep(3_000);
    const downTo = Date.now();
    pg.start();
    const afterOutage = await recoveredAfter(Date.now());

    // 3. A crash: no shutdown checkpoint, crash recovery at start.
    await sleep(1_000);
    pg.restart('immediate');
    const afterCrash = await recoveredAfter(Date.now());

    await sleep(1_000);
    running = false;
    await Promise.all(load);

    const summary = `restart ${afterRestart} ms, outage ${afterOutage} ms, crash ${afterCrash} ms; outcomes ${describeSamples(samples)}`;
    console.log(`[faults] recovery after the database came back: ${summary}`);

    expectOnlyOkOrUnavailable();
    const slowest = Math.max(...samples.map((s) => s.end - s.start));
    expect(slowest).toBeLessThan(REQUEST_BOUND_MS);
    // While the server was down, requests failed fast (connection refused) rather than waiting out a timeout.
    const duringOutage = samples.filter((s) => s.start >= downFrom + 500 && s.end <= downTo);
    expect(duringOutage.length).toBeGreaterThan(0);
    for (const s of duringOutage) expect(s.outcome).toBe('SERVICE_UNAVAILABLE');
    expect(Math.max(...duringOutage.map((s) => s.end - s.start))).toBeLessThan(CONNECT_TIMEOUT_MS + 1_000);

    expect(afterRestart).toBeLessThan(RECOVERY_BOUND_MS);
    expect(afterOutage).toBeLessThan(RECOVERY_BOUND_MS);
    expect(afterCrash).toBeLessThan(RECOVERY_BOUND_MS);
    expect(gw.child.exitCode).toBeNull();
    expect(gw.child.signalCode).toBeNull();
  }, 120_000);

  it('a server that stops answering (frozen, TCP still open) fails requests within seconds with the default timeouts (watchdog), not at the 17 s read timeout', async () => {
    samples.length = 0;
    startLoad();
    await sleep(1_000);
    pg.freeze();
    // After freeze() returns, every backend is stopped: a request that started while it was stopping them could
    // still be answered (seen once in four runs).
    const frozenAt = Date.now();
    try {
      await sleep(FREEZE_MS);
    } finally {
      pg.thaw();
    }
    const thawedAt = Date.now();
    const recovered = await recoveredAfter(thawedAt);
    await sleep(500);
    running = false;
    await Promise.all(load);
    console.log(
      `[faults] frozen server for ${thawedAt - frozenAt} ms: recovery ${recovered} ms; outcomes ${describeSamples(samples)}`,
    );
    expectOnlyOkOrUnavailable();
    const slowest = Math.max(...samples.map((s) => s.end - s.start));
    expect(slowest).toBeLessThan(REQUEST_BOUND_MS);
    expect(REQUEST_BOUND_MS).toBeLessThan(QUERY_TIMEOUT_MS);
    // Requests sent to the frozen server ended, with SERVICE_UNAVAILABLE, while it was still frozen.
    const duringFreeze = samples.filter((s) => s.start >= frozenAt && s.end < thawedAt);
    expect(duringFreeze.length).toBeGreaterThan(0);
    for (const s of duringFreeze) expect(s.outcome).toBe('SERVICE_UNAVAILABLE');
    expect(recovered).toBeLessThan(RECOVERY_BOUND_MS);
    expect(gw.child.exitCode).toBeNull();
  }, 150_000);

  it('a database that is down when a request arrives does not block the next ones once it is back', async () => {
    pg.stop('fast');
    const down = await gw.gql(RETRIEVE, { input: { query: 'refund', k: 3 } }, ALICE, 30_000);
    expect(down.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(down.errors?.[0]?.message).toMatch(/retry/i);
    pg.start();
    const up = await gw.gql<{ retrieveChunks: { chunks: unknown[] } }>(
      RETRIEVE,
      { input: { query: 'refund', k: 3 } },
      ALICE,
      30_000,
    );
    expect(up.errors).toBeUndefined();
    expect(up.data!.retrieveChunks.chunks).toHaveLength(3);
  }, 60_000);
});
