import { QueryFailedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';
import { isDatabaseUnavailable } from './format-error';

/** The database failures that become SERVICE_UNAVAILABLE (retry shortly) instead of a masked internal error. */
describe('isDatabaseUnavailable', () => {
  const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });
  const wrapped = (driverError: Error): Error => new QueryFailedError('SELECT 1', [], driverError);

  it.each<[string, Error]>([
    [
      'a server shutting down (57P01)',
      withCode('terminating connection due to administrator command', '57P01'),
    ],
    [
      'a server crash (57P02)',
      withCode('terminating connection due to crash of another server process', '57P02'),
    ],
    ['a server still starting (57P03)', withCode('the database system is starting up', '57P03')],
    ['a statement timeout (57014)', withCode('canceling statement due to statement timeout', '57014')],
    ['connection refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['no connection within the connect timeout', new Error('timeout exceeded when trying to connect')],
    ['the client-side read timeout (server not answering)', new Error('Query read timeout')],
    [
      'a client that already lost its connection',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    [
      'a transaction whose connection died between two queries',
      new QueryRunnerProviderAlreadyReleasedError(),
    ],
  ])('%s', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(isDatabaseUnavailable(wrapped(error))).toBe(true);
  });

  it.each<[string, unknown]>([
    ['a constraint violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['a syntax error', withCode('syntax error at or near "SELEC"', '42601')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a non-error', 'Connection terminated'],
  ])('not %s', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
