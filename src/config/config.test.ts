import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../common/project-root';
import { CONFIG_VARIABLES, ConfigError, loadConfig, unknownVariableWarnings } from './config';

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

  it('defaults logging to silent in tests and info elsewhere', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).ops.logLevel).toBe('silent');
    expect(loadConfig({}).ops.logLevel).toBe('info');
    expect(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'debug' }).ops.logLevel).toBe('debug');
  });

  it('warns about likely misspelt variables of its own, not about other programs’ variables', () => {
    expect(
      unknownVariableWarnings({ EMBEDDING_PROVDER: 'openai', DB_POOL: '3', HOME: '/root', PATH: '/bin' }),
    ).toEqual([
      'DB_POOL is not a variable this gateway reads; it is ignored',
      'EMBEDDING_PROVDER is not a variable this gateway reads (did you mean EMBEDDING_PROVIDER?); it is ignored',
    ]);
    expect(unknownVariableWarnings({ DB_POOL_SIZE: '3', LOG_LEVEL: 'info' })).toEqual([]);
  });

  it('documents every variable in the README', () => {
    const readme = fs.readFileSync(path.join(projectRoot(), 'README.md'), 'utf8');
    const missing = CONFIG_VARIABLES.map((v) => v.name).filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
