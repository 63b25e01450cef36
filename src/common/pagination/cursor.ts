import { Field, ObjectType } from 'type-graphql';
import { badInput } from '../errors/domain-error';
import { SOURCE_ID_PATTERN } from '../validation';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Opaque keyset cursors: the id of the last item, base64url-encoded so clients do not build them. */
export const encodeCursor = (id: string): string => Buffer.from(`id:${id}`, 'utf8').toString('base64url');

export function decodeCursor(cursor: string | null | undefined): string | undefined {
  if (cursor === null || cursor === undefined) return undefined;
  const decoded = /^[A-Za-z0-9_-]{1,400}$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString('utf8')
    : '';
  if (!decoded.startsWith('id:') || !SOURCE_ID_PATTERN.test(decoded.slice(3))) {
    throw badInput('after is not a cursor returned by this API', { field: 'after' });
  }
  return decoded.slice(3);
}

export function pageSize(first: number | null | undefined): number {
  const n = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE)
    throw badInput(`first must be between 1 and ${MAX_PAGE_SIZE}`, { field: 'first' });
  return n;
}

/** Cuts the `limit + 1` rows a repository returned into a page. */
export function toPage<T extends { id: string }>(
  rows: T[],
  limit: number,
): { nodes: T[]; pageInfo: PageInfo } {
  const nodes = rows.slice(0, limit);
  const last = nodes[nodes.length - 1];
  return {
    nodes,
    pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor(last.id) : null },
  };
}

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage: boolean;

  @Field(() => String, { nullable: true, description: 'Pass as `after` to get the next page.' })
  endCursor: string | null;
}
