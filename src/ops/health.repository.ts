import { type DataSource } from 'typeorm';

/** The SQL behind /readyz. */
export class HealthRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Names of the migrations recorded as applied (TypeORM's table, named in src/db/database.ts). */
  async appliedMigrations(): Promise<string[]> {
    const rows: { name: string }[] = await this.dataSource.query(
      'SELECT name FROM schema_migrations ORDER BY id',
    );
    return rows.map((r) => r.name);
  }
}
