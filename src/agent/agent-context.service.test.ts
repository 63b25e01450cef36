import { mentionedOrderIds } from './agent-context.service';

const ticket = (subject: string, bodies: string[], metadata: Record<string, unknown> = {}) => ({
  subject,
  messages: bodies.map((body) => ({ author: 'customer' as never, body, sentAt: null })),
  metadata,
});

describe('order ids mentioned in a ticket', () => {
  it('finds the ways customers and agents write them, and metadata.orders', () => {
    expect(
      mentionedOrderIds(
        ticket('Where is my refund for order 4821?', ['It was Order #4821.', 'and order no. G-1001']),
      ),
    ).toEqual(['4821', 'G-1001']);
    expect(mentionedOrderIds(ticket('Hello', ['ORDER#77 please'], { orders: ['9001', 42] }))).toEqual([
      '77',
      '9001',
      '42',
    ]);
  });

  it('ignores words after "order" that are not ids', () => {
    expect(mentionedOrderIds(ticket('In order to return', ['the order arrived', 'order status?']))).toEqual(
      [],
    );
  });
});
