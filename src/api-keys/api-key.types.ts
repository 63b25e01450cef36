import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { type ApiKeyScope } from '../auth/identity';

/** GraphQL names for the scopes; the values are what the database and the Identity hold. */
export enum ApiKeyScopeValue {
  RETRIEVE = 'retrieve',
  INGEST = 'ingest',
}
registerEnumType(ApiKeyScopeValue, {
  name: 'ApiKeyScope',
  description: 'RETRIEVE runs queries (retrieval, reads); INGEST runs the content mutations.',
  valuesConfig: {
    RETRIEVE: { description: 'Queries: retrieveChunks, agentContext, documents, tickets, orders.' },
    INGEST: { description: 'Content mutations: ingest, update and delete documents, tickets and orders.' },
  },
});

@ObjectType({
  description: 'A partner API key of the caller’s merchant. Its secret is never shown again after creation.',
})
export class ApiKey {
  @Field(() => ID)
  id: string;

  @Field(() => String)
  name: string;

  @Field(() => [String], { description: 'The ACL principals the key reads as (user ids and role:<name>).' })
  principals: string[];

  @Field(() => [ApiKeyScopeValue])
  scopes: ApiKeyScope[];

  @Field(() => String, { description: 'Who created it: a user id, or `cli` for the admin command.' })
  createdBy: string;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  expiresAt: Date | null;

  @Field(() => Date, { nullable: true })
  revokedAt: Date | null;

  @Field(() => Date, {
    nullable: true,
    description:
      'When the key was last used, to within API_KEY_LAST_USED_INTERVAL_SECONDS (default a minute).',
  })
  lastUsedAt: Date | null;
}

@ObjectType()
export class CreatedApiKey {
  @Field(() => ApiKey)
  apiKey: ApiKey;

  @Field(() => String, {
    description: 'The key to send in the `x-api-key` header. Shown only in this response; store it now.',
  })
  key: string;
}

@InputType()
export class CreateApiKeyInput {
  @Field(() => String, {
    description: 'A label for people, e.g. the partner’s name. At most 200 characters.',
  })
  name: string;

  @Field(() => [String], { description: 'ACL principals the key reads as: user ids and role:<name>.' })
  principals: string[];

  @Field(() => [ApiKeyScopeValue])
  scopes: ApiKeyScopeValue[];

  @Field(() => Date, {
    nullable: true,
    description: 'After this time the key is refused. Must be in the future.',
  })
  expiresAt?: Date | null;
}
