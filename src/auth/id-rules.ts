const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

/**
 * The identity rules every verified token must meet, shared with `npm run token` so that it never signs what the
 * gateway refuses, and with the folder loader's front matter (ACL user ids). A user id must not look like a role
 * principal, or `sub: "role:agent"` would read what agents read, nor like an API key's user id. A module without
 * dependencies: front matter and the CLIs need the rules, not the JWT libraries.
 */
export const isValidUserId = (sub: string): boolean =>
  ID_PATTERN.test(sub) && !sub.startsWith('role:') && !sub.startsWith('apikey:');
export const isValidMerchantId = (id: string): boolean => ID_PATTERN.test(id);
export const isValidRoleName = (role: string): boolean => ID_PATTERN.test(role);
