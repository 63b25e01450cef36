import { Field, InputType, ObjectType } from 'type-graphql';
import { PageInfo } from '../../common/pagination/cursor';
import { SupportDocument } from '../support-document.entity';

@InputType()
export class DocumentFilter {
  @Field(() => String, { nullable: true, description: 'metadata.category equals this value.' })
  category?: string | null;

  @Field(() => Date, { nullable: true, description: 'Changed at or after this time.' })
  updatedSince?: Date | null;
}

@ObjectType()
export class DocumentConnection {
  @Field(() => [SupportDocument])
  nodes: SupportDocument[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}
