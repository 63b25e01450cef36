import { ConfigError, loadConfig } from '../config/config';

const SECRET = 'a-production-secret-that-is-long-enough-0123456789';

describe('loadConfig: API limits', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.api).toEqual({
      maxBodyBytes: 2 * 1024 * 1024,
      maxOperationChars: 20_000,
      maxDepth: 8,
      maxAliases: 30,
      maxSelections: 150,
      maxCost: 1000,
      maxBatchOperations: 0,
      introspection: undefined, // the PLAYGROUND mode decides
      corsOrigins: ['*'],
    });
    expect(c.rateLimit).toEqual({
      merchant: { perMinute: 3000, burst: 300 },
      caller: { perMinute: 600, burst: 100 },
      anonymous: { perMinute: 300, burst: 100 },
      redisUrl: undefined,
      redisKeyPrefix: 'srg:rl:',
    });
  });

  it('production: introspection off and no CORS origins unless configured', () => {
    const prod = loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: SECRET });
    expect(prod.api.introspection).toBeUndefined();
    expect(prod.api.corsOrigins).toEqual([]);
    const opened = loadConfig({
      NODE_ENV: 'production',
      AUTH_JWT_SECRET: SECRET,
      GRAPHQL_INTROSPECTION: 'true',
      CORS_ORIGINS: 'https://app.example.com, https://admin.example.com:8443',
    });
    expect(opened.api.introspection).toBe(true);
    expect(opened.api.corsOrigins).toEqual(['https://app.example.com', 'https://admin.example.com:8443']);
  });

  it('names every bad value', () => {
    let error: unknown;
    try {
      loadConfig({
        CORS_ORIGINS: 'https://ok.example.com,https://bad.example.com/path',
        REDIS_URL: 'http://redis:6379',
        GRAPHQL_MAX_DEPTH: '0',
        GRAPHQL_MAX_BATCH_OPERATIONS: '101',
        RATE_LIMIT_CALLER_BURST: '0',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'CORS_ORIGINS entry "https://bad.example.com/path"',
      'REDIS_URL',
      'GRAPHQL_MAX_DEPTH',
      'GRAPHQL_MAX_BATCH_OPERATIONS',
      'RATE_LIMIT_CALLER_BURST',
    ]) {
      expect(problems).toContain(name);
    }
  });
});
