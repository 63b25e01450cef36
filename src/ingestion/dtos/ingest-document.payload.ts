import { Field, Int, ObjectType } from 'type-graphql';
import { SupportDocument } from '../../documents/support-document.entity';

@ObjectType()
export class IngestDocumentPayload {
  @Field(() => SupportDocument)
  document: SupportDocument;

  @Field(() => Int, { description: 'Chunks the document now has.' })
  chunkCount: number;

  @Field(() => Int, { description: 'Chunks whose vectors were computed for this call.' })
  embeddedChunks: number;

  @Field(() => Int, { description: 'Chunks whose vectors were kept: their text was already embedded.' })
  reusedChunks: number;

  @Field(() => Int, { description: 'Chunks of the previous version whose text is gone.' })
  deletedChunks: number;

  @Field(() => Boolean, {
    description: 'True when the document was identical to the stored one: nothing was written.',
  })
  unchanged: boolean;

  @Field(() => [String], { description: 'Things that succeeded but deserve attention, e.g. an empty ACL.' })
  warnings: string[];
}

@ObjectType()
export class IngestDocumentsPayload {
  @Field(() => [IngestDocumentPayload], { description: 'One result per input, in input order.' })
  results: IngestDocumentPayload[];
}
