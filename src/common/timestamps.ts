import { Field, ObjectType } from 'type-graphql';
import { Column } from 'typeorm';

/** created_at / updated_at, as timestamptz set by the database and exposed as DateTimeISO. */
@ObjectType()
export abstract class Timestamped {
  @Field(() => Date)
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt: Date;

  @Field(() => Date)
  @Column({ name: 'updated_at', type: 'timestamptz', insert: false, update: false })
  updatedAt: Date;
}
