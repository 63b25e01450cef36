import { Field, ID, ObjectType } from 'type-graphql';
import { Entity, PrimaryColumn, Column } from 'typeorm';
import { Timestamped } from '../common/timestamps';

@ObjectType({
  description: 'A tenant: every document, ticket, order and chunk belongs to exactly one merchant.',
})
@Entity({ name: 'merchants', synchronize: false })
export class Merchant extends Timestamped {
  @Field(() => ID)
  @PrimaryColumn({ type: 'text' })
  id: string;

  @Field(() => String)
  @Column({ type: 'text' })
  name: string;
}
