import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { JSONScalar } from '../common/graphql-scalars';
import { type GatewayContext, requireSession } from '../graphql/context';
import { TicketConnection, TicketFilter } from './dtos/ticket.types';
import { Ticket } from './ticket.entity';
import { TicketService } from './ticket.service';
import { TicketStatus } from './dtos/ticket-enums.graphql';

@Resolver()
export class TicketResolver {
  constructor(private readonly ticketService: TicketService) {}

  @Mutation(() => Ticket, {
    description: 'Replaces the ACL of the ticket and all its chunks, without re-embedding.',
  })
  async updateTicketAcl(
    @Arg('id', () => ID) id: string,
    @Arg('acl', () => [String]) acl: string[],
    @Ctx() ctx: GatewayContext,
  ): Promise<Ticket> {
    return this.ticketService.updateAcl(requireSession(ctx), id, acl);
  }

  @Mutation(() => Ticket, {
    description: 'Replaces the metadata of the ticket and all its chunks, without re-embedding.',
  })
  async updateTicketMetadata(
    @Arg('id', () => ID) id: string,
    @Arg('metadata', () => JSONScalar) metadata: unknown,
    @Ctx() ctx: GatewayContext,
  ): Promise<Ticket> {
    return this.ticketService.updateMetadata(requireSession(ctx), id, metadata);
  }

  @Mutation(() => Ticket, {
    description: 'Changes the status; the text is unchanged, so nothing is re-embedded.',
  })
  async updateTicketStatus(
    @Arg('id', () => ID) id: string,
    @Arg('status', () => TicketStatus) status: TicketStatus,
    @Ctx() ctx: GatewayContext,
  ): Promise<Ticket> {
    return this.ticketService.updateStatus(requireSession(ctx), id, status);
  }

  @Mutation(() => Boolean, {
    description: 'Deletes the ticket and all its chunks. False when it did not exist.',
  })
  async deleteTicket(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return this.ticketService.delete(requireSession(ctx), id);
  }

  @Query(() => Ticket, { nullable: true, description: 'A ticket the caller may see, or null.' })
  async ticket(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<Ticket | null> {
    return this.ticketService.get(requireSession(ctx), id);
  }

  @Query(() => TicketConnection, {
    description: "The caller's merchant's tickets the caller may see, ordered by id.",
  })
  async tickets(
    @Ctx() ctx: GatewayContext,
    @Arg('first', () => Int, { nullable: true, description: '1..100, default 20' }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
    @Arg('filter', () => TicketFilter, { nullable: true }) filter?: TicketFilter,
  ): Promise<TicketConnection> {
    return this.ticketService.list(
      requireSession(ctx),
      { first, after },
      {
        status: filter?.status ?? undefined,
        customerId: filter?.customerId ?? undefined,
        updatedSince: filter?.updatedSince ?? undefined,
      },
    );
  }
}
