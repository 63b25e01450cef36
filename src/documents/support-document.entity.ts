import { Field, ID, ObjectType } from 'type-graphql';
import { Entity, PrimaryColumn, Column } from 'typeorm';
import { JSONScalar, type JsonObject } from '../common/graphql-scalars';
import { Timestamped } from '../common/timestamps';

@ObjectType({ description: "A policy or help document of the caller's merchant." })
@Entity({ name: 'support_documents', synchronize: false })
export class SupportDocument extends Timestamped {
  @PrimaryColumn({ name: 'merchant_id', type: 'text' })
  merchantId: string;

  @Field(() => ID, { description: 'Chosen by the client; unique within the merchant.' })
  @PrimaryColumn({ type: 'text' })
  id: string;

  @Field(() => String)
  @Column({ type: 'text' })
  title: string;

  @Column({ type: 'text' })
  body: string;

  @Field(() => String, { description: 'sha256 of the title and text as ingested.' })
  @Column({ name: 'content_hash', type: 'text' })
  contentHash: string;

  @Field(() => JSONScalar)
  @Column({ type: 'jsonb' })
  metadata: JsonObject;

  @Field(() => [String], {
    description: 'Principals (user ids and role:<name>) that may read this document.',
  })
  @Column({ type: 'text', array: true })
  acl: string[];
}
