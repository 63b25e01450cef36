import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { type GatewayContext, requireSession } from '../graphql/context';
import { UpsertOrderInput } from './dtos/upsert-order.input';
import { Order } from './order.entity';
import { OrderService } from './order.service';

@Resolver()
export class OrderResolver {
  constructor(private readonly orders: OrderService) {}

  @Mutation(() => Order, {
    description: 'Creates or replaces an order as the shop system knows it. Needs an ingest role.',
  })
  async upsertOrder(
    @Arg('input', () => UpsertOrderInput) input: UpsertOrderInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<Order> {
    return this.orders.upsert(requireSession(ctx), input);
  }

  @Query(() => Order, {
    nullable: true,
    description:
      "An order of the caller's merchant, or null. Needs an ingest role: orders carry no ACL, so agents see order " +
      'status only through agentContext (orders mentioned in tickets they may read).',
  })
  async order(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<Order | null> {
    return this.orders.get(requireSession(ctx), id);
  }
}
