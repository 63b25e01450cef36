import fs from 'node:fs';
import path from 'node:path';
import { buildGatewaySchema, printGatewaySchema } from '../src/graphql/schema';

describe('schema.graphql', () => {
  it('is the schema generated from code (run `npm run schema:print` after changing types)', async () => {
    const generated = printGatewaySchema(await buildGatewaySchema(new Map()));
    const checkedIn = fs.readFileSync(path.join(__dirname, '..', 'schema.graphql'), 'utf8');
    expect(checkedIn).toBe(generated);
  });

  it('keeps the contract names clients code against', async () => {
    const sdl = printGatewaySchema(await buildGatewaySchema(new Map()));
    expect(sdl).toContain('retrieveChunks(input: RetrieveChunksInput!): RetrieveChunksResult!');
    expect(sdl).toContain('ingestDocument(input: IngestDocumentInput!): IngestDocumentPayload!');
    expect(sdl).toMatch(/k: Int = 5/);
    for (const field of [
      'id: ID!',
      'text: String!',
      'score: Float!',
      'similarity: Float!',
      'sourceType: ChunkSourceType!',
      'citation: String!',
      'metadata: JSON!',
      'chunkIndex: Int!',
    ]) {
      expect(sdl).toContain(field);
    }
  });
});
