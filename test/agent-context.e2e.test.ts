import {
  ALICE,
  BOB,
  errorCode,
  GLOBEX_AGENT,
  startTestGateway,
  type TestGateway,
} from './support/test-gateway';

const CONTEXT = `query C($input: AgentContextInput!) {
  agentContext(input: $input) {
    tookMs
    policies { citation documentId sourceType }
    tickets { id status updatedAt messages { author body } }
    orders { id status totalCents currency }
  }
}`;
type Data = {
  agentContext: {
    policies: { citation: string; documentId: string; sourceType: string }[];
    tickets: { id: string; status: string; messages: { author: string; body: string }[] }[];
    orders: { id: string; status: string; totalCents: number; currency: string }[];
  };
};

describe('agentContext: policies, ticket history and order status in one request', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t.close();
  });
  const ask = (input: Record<string, unknown>, as = ALICE) => t.gql<Data>(CONTEXT, { input }, as);

  it("gives Alice the refund policy, u42's ticket and the status of order 4821", async () => {
    const res = await ask({ customerId: 'u42', question: 'where is my refund', k: 2 });
    expect(res.errors).toBeUndefined();
    const c = res.data!.agentContext;
    expect(c.policies).toHaveLength(2);
    expect(c.policies.every((p) => p.sourceType === 'DOCUMENT')).toBe(true);
    expect(c.policies[0].citation).toBe('Refund Policy §1 Refund window');
    expect(c.tickets.map((x) => x.id)).toEqual(['t1']);
    expect(c.tickets[0].messages[0]).toEqual({
      author: 'CUSTOMER',
      body: expect.stringContaining('Order #4821') as string,
    });
    expect(c.orders).toEqual([{ id: '4821', status: 'REFUND_REQUESTED', totalCents: 5292, currency: 'USD' }]);
  });

  it('limits everything to what the caller may read', async () => {
    // u7's only ticket (t3, password) is not readable by Bob, so neither is anything it mentions.
    const bob = await ask({ customerId: 'u7', question: 'password reset' }, BOB);
    expect(bob.data!.agentContext.tickets).toEqual([]);
    expect(bob.data!.agentContext.orders).toEqual([]);
    expect(bob.data!.agentContext.policies.every((p) => p.documentId === 'd7')).toBe(true);
    // Another merchant's agent asking about Acme's customer sees none of Acme's data.
    const globex = await ask({ customerId: 'u42', question: 'refund' }, GLOBEX_AGENT);
    expect(globex.data!.agentContext.tickets).toEqual([]);
    expect(globex.data!.agentContext.orders).toEqual([]);
    expect(globex.data!.agentContext.policies.every((p) => !p.citation.startsWith('Refund Policy'))).toBe(
      true,
    );
  });

  it('validates its input', async () => {
    expect(errorCode(await ask({ customerId: 'u42', question: '' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await ask({ customerId: 'bad id', question: 'x' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await ask({ customerId: 'u42', question: 'x', ticketLimit: 0 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await ask({ customerId: 'u42', question: 'x' }, null as never))).toBe('UNAUTHENTICATED');
  });
});
