import { registerEnumType } from 'type-graphql';

export enum ChunkSourceType {
  DOCUMENT = 'document',
  TICKET = 'ticket',
}
registerEnumType(ChunkSourceType, { name: 'ChunkSourceType', description: 'What a chunk was cut from.' });
