import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { type GatewayContext, requireSession } from '../graphql/context';
import { SynonymGroup, SynonymGroupInput } from './dtos/synonym-group.type';
import { SynonymService } from './synonym.service';

@Resolver()
export class SynonymResolver {
  constructor(private readonly synonyms: SynonymService) {}

  @Query(() => [SynonymGroup], {
    description: "The caller's merchant's synonym groups for keyword search. Needs a role in INGEST_ROLES.",
  })
  async searchSynonyms(@Ctx() ctx: GatewayContext): Promise<SynonymGroup[]> {
    return (await this.synonyms.list(requireSession(ctx))).map((terms) => ({ terms }));
  }

  @Mutation(() => [SynonymGroup], {
    description:
      "Replaces the caller's merchant's synonym groups (an empty list removes them): a keyword query containing " +
      'one phrase of a group also matches the others. At most 500 groups of 2..10 phrases. Needs a role in INGEST_ROLES.',
  })
  async setSearchSynonyms(
    @Arg('groups', () => [SynonymGroupInput]) groups: SynonymGroupInput[],
    @Ctx() ctx: GatewayContext,
  ): Promise<SynonymGroup[]> {
    const saved = await this.synonyms.replace(
      requireSession(ctx),
      groups.map((g) => g.terms),
    );
    return saved.map((terms) => ({ terms }));
  }
}
