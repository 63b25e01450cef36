import { type DataSource, type EntityManager } from 'typeorm';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE } from '../../migrations/1764100000000-row-level-security';
import { type Identity, scopeOf, type TenantScope } from '../auth/identity';
import { type ContentAccess, mayManageContent } from '../auth/permissions';
import { type Config } from '../config/config';

export { CONTENT_MANAGER_ROLE, GATEWAY_ROLE };

export type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/** Something that runs work in one database transaction; all database work goes through one of these. */
export interface Db {
  transaction<T>(work: (manager: EntityManager) => Promise<T>, isolation?: IsolationLevel): Promise<T>;
}

/**
 * The owner's connection, for migrations and admin jobs that act for a merchant without a caller (provisioning,
 * seed, the folder loader, re-embedding). The owner is not subject to row-level security.
 */
export class AdminDb implements Db {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(work: (manager: EntityManager) => Promise<T>, isolation?: IsolationLevel): Promise<T> {
    return isolation ? this.dataSource.transaction(isolation, work) : this.dataSource.transaction(work);
  }
}

/**
 * One caller's way into the database, created per request from the verified Identity (GraphQL context) and
 * passed down explicitly to every service method that serves a request. Every transaction it opens starts by
 * entering the caller's database role — srg_gateway for readers, srg_content_manager for content managers — and
 * setting the caller's merchant and principals, all transaction-locally (`set_config(…, true)`): the row-level
 * security policies (migration 1764100000000) read them, and nothing survives the transaction on a pooled or
 * shared (PGlite) session.
 *
 * The role is set in every transaction, not only on the embedded database: connected as srg_gateway, a reader's
 * transaction stays srg_gateway and a manager's enters srg_content_manager; connected as the owner or a superuser
 * (development with one URL, PGlite's only user) it is what makes the policies apply at all.
 */
export class TenantSession implements Db {
  readonly scope: TenantScope;
  readonly access: ContentAccess;

  constructor(
    private readonly dataSource: DataSource,
    readonly identity: Identity,
    manageContent: boolean,
  ) {
    this.scope = scopeOf(identity);
    this.access = { scope: this.scope, manageAll: manageContent };
  }

  transaction<T>(work: (manager: EntityManager) => Promise<T>, isolation?: IsolationLevel): Promise<T> {
    const run = async (manager: EntityManager): Promise<T> => {
      await enterTenant(manager, this.access);
      return work(manager);
    };
    return isolation ? this.dataSource.transaction(isolation, run) : this.dataSource.transaction(run);
  }
}

/**
 * The statement every request transaction starts with. The principals go in as a bound text[] and PostgreSQL
 * writes the array literal, so no principal can break out of it.
 */
export async function enterTenant(
  manager: Pick<EntityManager, 'query'>,
  access: ContentAccess,
): Promise<void> {
  await manager.query(
    `SELECT set_config('role', $1, true), set_config('app.merchant_id', $2, true),
            set_config('app.principals', $3::text[]::text, true)`,
    [roleFor(access), access.scope.merchantId, [...access.scope.principals]],
  );
}

/** The database role a caller's transactions run as. */
export function roleFor(access: ContentAccess): string {
  return access.manageAll ? CONTENT_MANAGER_ROLE : GATEWAY_ROLE;
}

/** Opens tenant sessions on the gateway's request connection. */
export class SessionFactory {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: Config,
  ) {}

  open(identity: Identity): TenantSession {
    return new TenantSession(this.dataSource, identity, mayManageContent(identity, this.config));
  }
}
