import { type TenantScope } from '../auth/identity';
import { checkedDimensions } from '../vector-index/vector-index.repository';
import { type ChunkSearchParams } from './search.types';

/**
 * The WHERE clause shared by every path of a search; every value is a bound parameter appended to `params`, no
 * client text is interpolated. `base` is the tenant scope, the corpus version and the request's filters; `size`
 * is the vector-size predicate, kept apart: it is needed to match a partial HNSW index (and keeps the cast in the
 * distance from seeing another size), but it would detoast every row it is evaluated on, so statements that read
 * no vectors leave it out (the trigger already guarantees that a version's vectors share one size).
 */
export function filterSql(
  scope: TenantScope,
  p: ChunkSearchParams,
  params: unknown[],
): { base: string; size: string } {
  const n = checkedDimensions(p.corpus.dimensions);
  const bind = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const clauses = [
    `c.merchant_id = ${bind(scope.merchantId)}`,
    `c.acl && ${bind([...scope.principals])}::text[]`,
    `c.corpus_version = ${bind(p.corpus.version)}`,
  ];
  if (p.filter.sourceType === 'document') clauses.push('c.document_id IS NOT NULL');
  if (p.filter.sourceType === 'ticket') clauses.push('c.ticket_id IS NOT NULL');
  const f = p.filter;
  if (f.metadata !== undefined && Object.keys(f.metadata).length > 0) {
    clauses.push(`c.metadata @> ${bind(JSON.stringify(f.metadata))}::jsonb`);
  }
  if (f.category !== undefined)
    clauses.push(`c.metadata @> ${bind(JSON.stringify({ category: f.category }))}::jsonb`);
  if (f.documentIds !== undefined) clauses.push(`c.document_id = ANY(${bind(f.documentIds)}::text[])`);
  if (f.ticketIds !== undefined) clauses.push(`c.ticket_id = ANY(${bind(f.ticketIds)}::text[])`);
  if (f.customerId !== undefined || f.ticketStatuses !== undefined) {
    const conds = ['t.merchant_id = c.merchant_id', 't.id = c.ticket_id'];
    if (f.customerId !== undefined) conds.push(`t.customer_id = ${bind(f.customerId)}`);
    if (f.ticketStatuses !== undefined) conds.push(`t.status = ANY(${bind(f.ticketStatuses)}::text[])`);
    clauses.push(`EXISTS (SELECT 1 FROM tickets t WHERE ${conds.join(' AND ')})`);
  }
  if (f.updatedSince !== undefined) {
    const since = bind(f.updatedSince.toISOString());
    clauses.push(
      `(EXISTS (SELECT 1 FROM support_documents d
                 WHERE d.merchant_id = c.merchant_id AND d.id = c.document_id AND d.updated_at >= ${since}::timestamptz)
        OR EXISTS (SELECT 1 FROM tickets t2
                    WHERE t2.merchant_id = c.merchant_id AND t2.id = c.ticket_id AND t2.updated_at >= ${since}::timestamptz))`,
    );
  }
  return { base: clauses.join(' AND '), size: `vector_dims(c.embedding) = ${n}` };
}
