import { DataSource } from 'typeorm';
import { GatewayMetrics } from './metrics';

describe('metric labels stay bounded', () => {
  const metrics = (maxOperations: number): GatewayMetrics =>
    new GatewayMetrics({
      dataSource: new DataSource({ type: 'postgres' }),
      maxOperations,
      processMetrics: false,
    });

  it('keeps the first operation names, then counts the rest as other', () => {
    const m = metrics(2);
    expect(m.operationLabel('A')).toBe('A');
    expect(m.operationLabel('B')).toBe('B');
    expect(m.operationLabel('C')).toBe('other');
    expect(m.operationLabel('A')).toBe('A');
    expect(m.operationLabel(undefined)).toBe('anonymous');
    expect(m.operationLabel('')).toBe('anonymous');
    expect(m.operationLabel('x'.repeat(65))).toBe('other');
    expect(m.operationLabel('not a name')).toBe('other');
  });

  it('maps unknown outcomes to other', async () => {
    const m = metrics(10);
    m.requestServed('A', 'ok', 0.01);
    m.requestServed('A', 'SOMETHING_A_CLIENT_MADE_UP', 0.01);
    const text = await m.registry.metrics();
    expect(text).toContain('srg_graphql_requests_total{operation="A",outcome="ok"} 1');
    expect(text).toContain('srg_graphql_requests_total{operation="A",outcome="other"} 1');
    expect(text).not.toContain('SOMETHING_A_CLIENT_MADE_UP');
  });
});
