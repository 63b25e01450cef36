import { forbidden } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type Identity, scopeOf, type TenantScope } from './identity';

/** Ingesting and managing content changes what every agent of the merchant reads, so it takes a configured role. */
export function mayManageContent(identity: Identity, config: Config): boolean {
  // An API key has no roles; its INGEST scope is what an ingest role is for a person.
  if (identity.credential?.kind === 'apiKey') return identity.credential.scopes.includes('ingest');
  return identity.roles.some((r) => config.ingestRoles.includes(r));
}

export function assertMayManageContent(identity: Identity, config: Config): void {
  if (!mayManageContent(identity, config)) {
    throw forbidden(
      identity.credential?.kind === 'apiKey'
        ? 'This operation requires an API key with the INGEST scope'
        : `This operation requires one of the roles: ${config.ingestRoles.join(', ')}`,
    );
  }
}

/**
 * Who sees which document or ticket: readers see those whose ACL overlaps their principals; content managers
 * (`manageAll`) see every one of their merchant, including those nobody may read yet. Chunks (retrieval) always
 * follow the ACL.
 */
export interface ContentAccess {
  scope: TenantScope;
  manageAll: boolean;
}

export function contentAccess(identity: Identity, config: Config): ContentAccess {
  return { scope: scopeOf(identity), manageAll: mayManageContent(identity, config) };
}
