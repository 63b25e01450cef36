import { Field, ID, InputType } from 'type-graphql';
import { JSONScalar } from '../../common/graphql-scalars';

@InputType()
export class IngestDocumentInput {
  @Field(() => ID, {
    nullable: true,
    description:
      'Unique within the merchant; re-ingesting an id replaces the document. Generated when absent.',
  })
  id?: string | null;

  @Field(() => String)
  title: string;

  @Field(() => String, { description: 'Plain text or markdown; headings become the citation path.' })
  text: string;

  @Field(() => JSONScalar, {
    nullable: true,
    description: 'A JSON object copied onto every chunk, filterable with ChunkFilter.metadata.',
  })
  metadata?: unknown;

  @Field(() => [String], {
    description: 'Principals (user ids, role:<name>) that may read it. Empty means nobody.',
  })
  acl: string[];
}
