import { Field, Int, ObjectType } from 'type-graphql';
import { SupportDocument } from '../support-document.entity';

@ObjectType()
export class IngestDocumentPayload {
  @Field(() => SupportDocument)
  document: SupportDocument;

  @Field(() => Int, { description: 'Chunks the document now has.' })
  chunkCount: number;

  @Field(() => Int, { description: 'Chunks of the previous version that were replaced.' })
  deletedChunks: number;

  @Field(() => [String], { description: 'Things that succeeded but deserve attention, e.g. an empty ACL.' })
  warnings: string[];
}
