import { forbidden } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type Identity } from './identity';

/** Ingesting and managing content changes what every agent of the merchant reads, so it takes a configured role. */
export function mayManageContent(identity: Identity, config: Config): boolean {
  return identity.roles.some((r) => config.ingestRoles.includes(r));
}

export function assertMayManageContent(identity: Identity, config: Config): void {
  if (!mayManageContent(identity, config)) {
    throw forbidden(`This operation requires one of the roles: ${config.ingestRoles.join(', ')}`);
  }
}
