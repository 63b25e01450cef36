import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../common/project-root';
import {
  CONFIG_VARIABLES,
  ConfigError,
  describeVariables,
  embeddingDimensionsProblem,
  loadConfig,
  unknownVariableWarnings,
} from './config';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

/** The README's configuration table: each row's variable names and the default cell split the same way. */
function readmeConfigurationRows(): { names: string[]; defaults: string[] }[] {
  const readme = fs.readFileSync(path.join(projectRoot(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Configuration'));
  const table = section.slice(0, section.indexOf('\n## ', 5));
  return table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [names, defaults] = line
        .split('|')
        .slice(1, 3)
        .map((c) => c.trim());
      return {
        names: [...names.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]),
        defaults: defaults.split(/,\s+(?=`|—|-)/),
      };
    });
}

describe('configuration', () => {
  it('names every bad variable and the problem, all at once', () => {
    let error: unknown;
    try {
      loadConfig({ SHUTDOWN_TIMEOUT_MS: '-1', METRICS_ENABLED: 'maybe', READINESS_TIMEOUT_MS: '5' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'SHUTDOWN_TIMEOUT_MS="-1" must be an integer between 0 and 600000',
      'METRICS_ENABLED="maybe" must be true or false',
      'READINESS_TIMEOUT_MS="5" must be an integer between 100 and 60000',
    ]);
  });

  it('never repeats the value of a secret variable in its message', () => {
    const problems = problemsOf({
      DATABASE_URL: 'mysql://app:hunter2@db/app',
      AUTH_JWT_SECRET: 'short-hunter2',
      REDIS_URL: 'http://:hunter2@redis',
    });
    expect(problems).toEqual([
      'DATABASE_URL must be a postgres:// or postgresql:// URL',
      'AUTH_JWT_SECRET must be at least 32 characters (HS256 needs a key as long as its hash)',
      'REDIS_URL must be a redis:// or rediss:// URL',
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('defaults logging to silent in tests and info elsewhere', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).ops.logLevel).toBe('silent');
    expect(loadConfig({}).ops.logLevel).toBe('info');
    expect(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'debug' }).ops.logLevel).toBe('debug');
  });

  it('warns about likely misspelt variables of its own, not about other programs’ variables', () => {
    expect(
      unknownVariableWarnings({
        EMBEDDING_PROVDER: 'openai',
        DB_POOL: '3',
        RATE_LIMT_MERCHANT_BURST: '5',
        RATE_LIMT_EVERYTHING: '5',
        database_url: 'postgres://x',
        HOME: '/root',
        PATH: '/bin',
        HOSTNAME: 'box',
        NODE_OPTIONS: '--x',
        PGHOST: 'db',
        TERM: 'xterm',
      }),
    ).toEqual([
      'DB_POOL is not a variable this gateway reads; it is ignored',
      'EMBEDDING_PROVDER is not a variable this gateway reads (did you mean EMBEDDING_PROVIDER?); it is ignored',
      'RATE_LIMT_EVERYTHING is not a variable this gateway reads; it is ignored',
      'RATE_LIMT_MERCHANT_BURST is not a variable this gateway reads (did you mean RATE_LIMIT_MERCHANT_BURST?); it is ignored',
      'database_url is not a variable this gateway reads (did you mean DATABASE_URL?); it is ignored',
    ]);
    expect(unknownVariableWarnings({ DB_POOL_SIZE: '3', LOG_LEVEL: 'info' })).toEqual([]);
  });

  it('refuses embedding sizes no model or pgvector index supports', () => {
    expect(problemsOf({ EMBEDDING_DIMENSIONS: '12' })).toEqual([
      'EMBEDDING_DIMENSIONS="12" must be an integer between 64 and 16000',
    ]);
    expect(problemsOf({ EMBEDDING_DIMENSIONS: '20000' })).toEqual([
      'EMBEDDING_DIMENSIONS="20000" must be an integer between 64 and 16000',
    ]);
    expect(loadConfig({ EMBEDDING_DIMENSIONS: '384' }).embedding.dimensions).toBe(384);
    const openai = { EMBEDDING_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-test' };
    expect(problemsOf({ ...openai, EMBEDDING_DIMENSIONS: '1800' })).toEqual([
      'EMBEDDING_DIMENSIONS=1800: text-embedding-3-small returns at most 1536 dimensions',
    ]);
    expect(
      loadConfig({ ...openai, EMBEDDING_MODEL: 'text-embedding-3-large', EMBEDDING_DIMENSIONS: '3072' })
        .embedding,
    ).toMatchObject({ model: 'text-embedding-3-large', dimensions: 3072 });
    expect(
      problemsOf({ ...openai, EMBEDDING_MODEL: 'text-embedding-3-large', EMBEDDING_DIMENSIONS: '4096' }),
    ).toEqual(['EMBEDDING_DIMENSIONS=4096: text-embedding-3-large returns at most 3072 dimensions']);
    expect(embeddingDimensionsProblem('text-embedding-ada-002', 512)).toBe(
      'text-embedding-ada-002 returns exactly 1536 dimensions',
    );
  });

  it('refuses the OpenAI provider without a key at start, unless the endpoint is on this machine', () => {
    expect(
      problemsOf({ EMBEDDING_PROVIDER: 'openai', OPENAI_BASE_URL: 'https://llm.example.com/v1' }),
    ).toEqual([expect.stringMatching(/^OPENAI_API_KEY is required with EMBEDDING_PROVIDER=openai/)]);
    expect(problemsOf({ EMBEDDING_PROVIDER: 'openai' })).toHaveLength(1);
    expect(problemsOf({ EMBEDDING_PROVIDER: 'openai', OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1' })).toEqual(
      [],
    );
  });

  it('documents every variable in the README once, with the default the code uses', () => {
    const rows = readmeConfigurationRows();
    const listed = rows.flatMap((r) => r.names);
    const known = CONFIG_VARIABLES.map((v) => v.name as string);
    expect(known.filter((name) => !listed.includes(name))).toEqual([]);
    expect(listed.filter((name) => !known.includes(name))).toEqual([]);
    expect(listed.filter((name, i) => listed.indexOf(name) !== i)).toEqual([]);
    const wrong: string[] = [];
    for (const row of rows) {
      if (row.defaults.length !== row.names.length) continue;
      row.names.forEach((name, i) => {
        const shown = CONFIG_VARIABLES.find((v) => v.name === name)!.default;
        if (/^[\w.:/-]+$/.test(shown) && shown !== '-' && !row.defaults[i].includes(`\`${shown}\``)) {
          wrong.push(`${name}: README says ${row.defaults[i]}, the code ${shown}`);
        }
      });
    }
    expect(wrong).toEqual([]);
  });

  it('lists every variable with its default for --help', () => {
    const help = describeVariables();
    for (const v of CONFIG_VARIABLES) expect(help).toContain(`${v.name} `);
    expect(help).toMatch(/RETRIEVAL_DEDICATED_INDEX_MIN_ROWS +.*\[default: 10000\]/);
  });
});
