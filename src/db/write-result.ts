/**
 * TypeORM's postgres driver returns `[rows, rowCount]` for UPDATE and DELETE (RETURNING or not) and plain `rows`
 * for everything else. These read either shape, so repositories never confuse the pair with two rows.
 */
export function writtenRows<T>(raw: unknown): T[] {
  if (Array.isArray(raw) && raw.length === 2 && Array.isArray(raw[0]) && typeof raw[1] === 'number')
    return raw[0] as T[];
  return raw as T[];
}

export function affectedCount(raw: unknown): number {
  if (Array.isArray(raw) && raw.length === 2 && Array.isArray(raw[0]) && typeof raw[1] === 'number')
    return raw[1];
  return Array.isArray(raw) ? raw.length : 0;
}
