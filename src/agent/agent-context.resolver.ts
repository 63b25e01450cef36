import { Arg, Ctx, Field, Float, ID, InputType, Int, ObjectType, Query, Resolver } from 'type-graphql';
import { type GatewayContext, requireSession } from '../graphql/context';
import { Order } from '../orders/order.entity';
import { ChunkSourceType } from '../retrieval/dtos/chunk-source-type';
import { RetrievedChunk } from '../retrieval/dtos/retrieved-chunk.type';
import { Ticket } from '../tickets/ticket.entity';
import { AgentContextService } from './agent-context.service';

@InputType()
export class AgentContextInput {
  @Field(() => ID)
  customerId: string;

  @Field(() => String, { description: "The customer's question." })
  question: string;

  @Field(() => Int, { nullable: true, defaultValue: 3, description: 'Policy chunks to return, 1..50.' })
  k?: number | null;

  @Field(() => Int, {
    nullable: true,
    defaultValue: 10,
    description: 'Most recent tickets to return, 1..50.',
  })
  ticketLimit?: number | null;
}

@ObjectType({
  description: 'Everything an agent needs to answer one customer, limited to what the caller may read.',
})
export class AgentContext {
  @Field(() => [RetrievedChunk], {
    description: 'Document chunks answering the question (HYBRID retrieval).',
  })
  policies: RetrievedChunk[];

  @Field(() => [Ticket], { description: "The customer's tickets, most recently updated first." })
  tickets: Ticket[];

  @Field(() => [Order], {
    description: 'Orders of this customer that those tickets mention ("Order #4821").',
  })
  orders: Order[];

  @Field(() => Float)
  tookMs: number;
}

@Resolver()
export class AgentContextResolver {
  constructor(private readonly contexts: AgentContextService) {}

  @Query(() => AgentContext, {
    description: 'Policy chunks, ticket history and order status for one customer, in one round trip.',
  })
  async agentContext(
    @Arg('input', () => AgentContextInput) input: AgentContextInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<AgentContext> {
    const r = await this.contexts.build(requireSession(ctx), {
      customerId: input.customerId,
      question: input.question,
      k: input.k ?? 3,
      ticketLimit: input.ticketLimit ?? 10,
    });
    return {
      ...r,
      policies: r.policies.map((c) => ({
        ...c,
        sourceType: c.sourceType === 'document' ? ChunkSourceType.DOCUMENT : ChunkSourceType.TICKET,
      })),
    };
  }
}
