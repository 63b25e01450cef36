import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { type GatewayContext, requireIdentity } from '../graphql/context';
import { ApiKeyService } from './api-key.service';
import { ApiKey, CreateApiKeyInput, CreatedApiKey } from './api-key.types';

@Resolver()
export class ApiKeyResolver {
  constructor(private readonly keys: ApiKeyService) {}

  @Mutation(() => CreatedApiKey, {
    description:
      'Creates a partner API key for the caller’s merchant; the key is returned once. Needs an API key admin role.',
  })
  async createApiKey(
    @Arg('input', () => CreateApiKeyInput) input: CreateApiKeyInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<CreatedApiKey> {
    return this.keys.createFor(requireIdentity(ctx), input, ctx.request.id);
  }

  @Mutation(() => ApiKey, {
    description: 'Revokes a key of the caller’s merchant at once; revoking again keeps the first time.',
  })
  async revokeApiKey(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<ApiKey> {
    return this.keys.revokeFor(requireIdentity(ctx), id);
  }

  @Query(() => [ApiKey], { description: 'The caller’s merchant’s API keys, oldest first.' })
  async apiKeys(
    @Ctx() ctx: GatewayContext,
    @Arg('includeRevoked', () => Boolean, { defaultValue: false }) includeRevoked: boolean,
  ): Promise<ApiKey[]> {
    return this.keys.listFor(requireIdentity(ctx), includeRevoked);
  }
}
