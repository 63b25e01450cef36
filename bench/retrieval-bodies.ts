import pg from 'pg';
import { fromSql } from 'pgvector';
import { signToken } from '../src/auth/jwt';

/** Requests for the gateway benchmarks: GraphQL bodies and the token each is sent with. */

export interface RequestBody {
  token: string;
  body: string;
}

/**
 * What the requests select: `ids` (the benchmarks' default: ids and similarities, so the gateway's cost is mostly
 * the search's) or `cited` (what a support UI shows for each chunk: its text, citation, headings and source).
 */
export type Selection = 'ids' | 'cited';
const SELECTIONS: Record<Selection, string> = {
  ids: 'strategy chunks { id similarity }',
  cited:
    'strategy chunks { id score similarity sourceType documentId ticketId chunkIndex text citation headingPath metadata }',
};
const retrieve = (selection: Selection) => `query Bench($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { ${SELECTIONS[selection]} }
}`;

/** VECTOR retrievals with stored vectors of the merchants `npm run bench` loaded, as their staff. */
export async function retrievalBodies(
  url: string,
  secret: string,
  merchant: string | null,
  encoding: 'list' | 'base64',
  selection: Selection = 'ids',
): Promise<RequestBody[]> {
  const reader = new pg.Client({ connectionString: url });
  await reader.connect();
  const rows = await reader.query<{ merchant_id: string; e: string }>(
    `SELECT merchant_id, embedding::text AS e FROM document_chunks
      WHERE merchant_id LIKE 'bm%' AND ($1::text IS NULL OR merchant_id = $1)
        AND corpus_version = (SELECT version FROM corpus_versions v
            WHERE v.merchant_id = document_chunks.merchant_id AND state = 'active')
      ORDER BY md5(id::text) LIMIT 100`,
    [merchant],
  );
  await reader.end();
  if (rows.rows.length === 0)
    throw new Error(
      merchant === null
        ? 'no benchmark merchants in this database: run npm run bench first'
        : `no chunks of merchant ${merchant} in this database`,
    );
  return rows.rows.map((r) => {
    const vector = fromSql(r.e) as number[];
    const given =
      encoding === 'list'
        ? { embedding: vector }
        : { embeddingBase64: Buffer.from(new Float32Array(vector).buffer).toString('base64') };
    return {
      token: signToken({ sub: 'bench-staff', merchantId: r.merchant_id, roles: ['staff'] }, secret, 3600),
      body: JSON.stringify({
        query: retrieve(selection),
        variables: { input: { query: '', k: 10, mode: 'VECTOR', ...given } },
      }),
    };
  });
}
