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

/** What an upsert did to one row: `changed` false when the stored row was identical and left alone. */
export interface Upserted<E> {
  row: E;
  changed: boolean;
  created: boolean;
}

/**
 * The outcome per given id, in the given order, of a batch upsert whose RETURNING gave the rows it inserted or
 * changed (`inserted`: xmax = 0); the rows it left alone are read with `readUntouched` (one statement).
 */
export async function upsertOutcomes<R extends { id: string }, E>(
  ids: readonly string[],
  written: readonly (R & { inserted: boolean })[],
  readUntouched: (ids: string[]) => Promise<R[]>,
  toEntity: (row: R) => E,
): Promise<Upserted<E>[]> {
  const byId = new Map<string, Upserted<E>>(
    written.map((r) => [r.id, { row: toEntity(r), changed: true, created: r.inserted }]),
  );
  const untouched = ids.filter((id) => !byId.has(id));
  if (untouched.length > 0) {
    for (const r of await readUntouched(untouched))
      byId.set(r.id, { row: toEntity(r), changed: false, created: false });
  }
  return ids.map((id) => byId.get(id)!);
}
