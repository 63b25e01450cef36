import { forbidden } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type Identity, scopeOf, type TenantScope } from './identity';

/** Ingesting and managing content changes what every agent of the merchant reads, so it takes a configured role. */
export function mayManageContent(identity: Identity, config: Config): boolean {
  return identity.roles.some((r) => config.ingestRoles.includes(r));
}

export function assertMayManageContent(identity: Identity, config: Config): void {
  if (!mayManageContent(identity, config)) {
    throw forbidden(`This operation requires one of the roles: ${config.ingestRoles.join(', ')}`);
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
