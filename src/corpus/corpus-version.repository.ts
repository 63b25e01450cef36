import { type EntityManager } from 'typeorm';

export type CorpusState = 'building' | 'active' | 'retired';

export interface CorpusVersion {
  merchantId: string;
  version: number;
  embeddingModel: string;
  dimensions: number;
  state: CorpusState;
}

export interface LiveVersions {
  active: CorpusVersion | null;
  building: CorpusVersion | null;
}

interface Row {
  merchant_id: string;
  version: number;
  embedding_model: string;
  dimensions: number;
  state: CorpusState;
}

const toVersion = (r: Row): CorpusVersion => ({
  merchantId: r.merchant_id,
  version: Number(r.version),
  embeddingModel: r.embedding_model,
  dimensions: Number(r.dimensions),
  state: r.state,
});

/** A merchant's corpus versions. Every method takes the merchant explicitly. */
export class CorpusVersionRepository {
  async findLive(manager: EntityManager, merchantId: string): Promise<LiveVersions> {
    const rows: Row[] = await manager.query(
      `SELECT merchant_id, version, embedding_model, dimensions, state FROM corpus_versions
        WHERE merchant_id = $1 AND state IN ('active', 'building')`,
      [merchantId],
    );
    const versions = rows.map(toVersion);
    return {
      active: versions.find((v) => v.state === 'active') ?? null,
      building: versions.find((v) => v.state === 'building') ?? null,
    };
  }

  async list(manager: EntityManager, merchantId: string): Promise<CorpusVersion[]> {
    const rows: Row[] = await manager.query(
      `SELECT merchant_id, version, embedding_model, dimensions, state FROM corpus_versions
        WHERE merchant_id = $1 ORDER BY version`,
      [merchantId],
    );
    return rows.map(toVersion);
  }

  /**
   * Serializes writers against the version flip: ingestion holds the merchant row FOR SHARE for its transaction,
   * the flip takes it FOR UPDATE, so a flip waits for in-flight writes and no write straddles a flip.
   */
  async lockMerchant(manager: EntityManager, merchantId: string, mode: 'share' | 'update'): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM merchants WHERE id = $1 ${mode === 'share' ? 'FOR SHARE' : 'FOR UPDATE'}`,
      [merchantId],
    );
    return rows.length > 0;
  }

  /**
   * lockMerchant(…, 'share') and findLive in one statement (a writer's first): null when the merchant does not
   * exist. The merchant row is locked FOR SHARE whatever its versions.
   */
  async lockMerchantFindLive(manager: EntityManager, merchantId: string): Promise<LiveVersions | null> {
    const rows: (Partial<Row> & { merchant: string })[] = await manager.query(
      `SELECT m.id AS merchant, v.merchant_id, v.version, v.embedding_model, v.dimensions, v.state
         FROM merchants m
         LEFT JOIN corpus_versions v ON v.merchant_id = m.id AND v.state IN ('active', 'building')
        WHERE m.id = $1
          FOR SHARE OF m`,
      [merchantId],
    );
    if (rows.length === 0) return null;
    const versions = rows
      .filter((r) => r.version !== null && r.version !== undefined)
      .map((r) => toVersion(r as Row));
    return {
      active: versions.find((v) => v.state === 'active') ?? null,
      building: versions.find((v) => v.state === 'building') ?? null,
    };
  }

  /** Version 1, active, for a new merchant; a no-op for a merchant that has versions. */
  async ensureInitial(
    manager: EntityManager,
    merchantId: string,
    model: string,
    dimensions: number,
  ): Promise<void> {
    await manager.query(
      `INSERT INTO corpus_versions (merchant_id, version, embedding_model, dimensions, state, activated_at)
       SELECT $1, 1, $2, $3, 'active', now()
        WHERE NOT EXISTS (SELECT 1 FROM corpus_versions WHERE merchant_id = $1)`,
      [merchantId, model, dimensions],
    );
  }

  async createBuilding(
    manager: EntityManager,
    merchantId: string,
    model: string,
    dimensions: number,
  ): Promise<CorpusVersion> {
    const rows: Row[] = await manager.query(
      `INSERT INTO corpus_versions (merchant_id, version, embedding_model, dimensions, state)
       VALUES ($1, nextval('corpus_versions_version_seq'), $2, $3, 'building')
       RETURNING merchant_id, version, embedding_model, dimensions, state`,
      [merchantId, model, dimensions],
    );
    return toVersion(rows[0]);
  }

  /** Deleting a version deletes its chunks (FK ON DELETE CASCADE). */
  async delete(manager: EntityManager, merchantId: string, version: number): Promise<void> {
    await manager.query(`DELETE FROM corpus_versions WHERE merchant_id = $1 AND version = $2`, [
      merchantId,
      version,
    ]);
  }

  async flip(manager: EntityManager, merchantId: string, from: number, to: number): Promise<void> {
    await manager.query(
      `UPDATE corpus_versions SET state = 'retired', retired_at = now()
        WHERE merchant_id = $1 AND version = $2 AND state = 'active'`,
      [merchantId, from],
    );
    await manager.query(
      `UPDATE corpus_versions SET state = 'active', activated_at = now()
        WHERE merchant_id = $1 AND version = $2 AND state = 'building'`,
      [merchantId, to],
    );
  }
}
