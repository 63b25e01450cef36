import { signToken } from '../auth/jwt';

/** The README's demo identities (seeds/): who the example tabs act as. */
export interface DemoIdentity {
  name: string;
  merchantId: string;
  userId: string;
  roles: string[];
}

export const DEMO_ALICE: DemoIdentity = { name: 'Alice', merchantId: 'm01', userId: 'u1', roles: ['agent'] };
export const DEMO_BOB: DemoIdentity = { name: 'Bob', merchantId: 'm01', userId: 'u3', roles: ['contractor'] };
export const DEMO_ADA: DemoIdentity = {
  name: 'Ada',
  merchantId: 'm01',
  userId: 'u0',
  roles: ['admin', 'agent'],
};

/** One preloaded IDE tab (GraphiQL's TabDefinition); the tab is titled by the operation name. */
export interface ExampleTab {
  query: string;
  variables: string;
  headers: string;
}

const RETRIEVE_SELECTION = `  retrieveChunks(input: $input) {
    strategy
    tookMs
    chunks {
      citation
      similarity
      score
      sourceType
      text
    }
  }`;

function tokenCommand(who: DemoIdentity): string {
  return `npm run token -- --merchant ${who.merchantId} --user ${who.userId} --roles ${who.roles.join(',')}`;
}

/**
 * The Authorization header for a tab: a freshly signed token in development, otherwise a placeholder that says how
 * to get one (sent as is, it fails with UNAUTHENTICATED and a message naming the expected format).
 */
function headersFor(who: DemoIdentity, secret: string | undefined): string {
  const value =
    secret === undefined
      ? `Bearer <token for ${who.name}: ${tokenCommand(who)}>`
      : `Bearer ${signToken({ sub: who.userId, merchantId: who.merchantId, roles: who.roles }, secret)}`;
  return JSON.stringify({ Authorization: value }, null, 2);
}

const json = (value: unknown): string => JSON.stringify(value, null, 2);

/**
 * Retrieve as Alice, retrieve as Bob (same question shape, different ACL), ingest a document as Ada.
 * `devTokenSecret` undefined means "no tokens in the page" (production, or PLAYGROUND_DEV_TOKENS=false).
 */
export function exampleTabs(devTokenSecret: string | undefined): ExampleTab[] {
  return [
    {
      query: `# Alice (merchant m01, user u1, role agent) reads every Acme document and ticket.
# Run with the ▶ button or Ctrl+Enter; the Authorization header is under "Headers" below.
query RetrieveAsAlice($input: RetrieveChunksInput!) {
${RETRIEVE_SELECTION}
}
`,
      variables: json({ input: { query: 'show me recent refund questions', k: 3 } }),
      headers: headersFor(DEMO_ALICE, devTokenSecret),
    },
    {
      query: `# Bob (merchant m01, user u3, role contractor) may read refund content only (d7, t1, t5):
# asking about passwords, he still gets only chunks his ACL allows.
query RetrieveAsBob($input: RetrieveChunksInput!) {
${RETRIEVE_SELECTION}
}
`,
      variables: json({ input: { query: 'how do I reset a customer password?', k: 3 } }),
      headers: headersFor(DEMO_BOB, devTokenSecret),
    },
    {
      query: `# Ada (merchant m01, user u0, roles admin + agent) may ingest (INGEST_ROLES, default admin).
# Chunks, embeds and writes the document and its chunks in one transaction; re-running it changes nothing.
mutation IngestAsAda($input: IngestDocumentInput!) {
  ingestDocument(input: $input) {
    chunkCount
    embeddedChunks
    reusedChunks
    unchanged
    warnings
    document {
      id
      title
      acl
      updatedAt
    }
  }
}
`,
      variables: json({
        input: {
          id: 'd12',
          title: 'Gift Cards',
          text: '## Expiry\n\nGift cards never expire.\n\n## Refunds\n\nGift cards cannot be refunded for cash.',
          acl: ['role:agent'],
          metadata: { category: 'gift-cards' },
        },
      }),
      headers: headersFor(DEMO_ADA, devTokenSecret),
    },
  ];
}
