import { badInput } from './errors/domain-error';
import { type JsonObject } from './graphql-scalars';

export const SOURCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
export const PRINCIPAL_PATTERN = /^(role:)?[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
export const MAX_ACL_ENTRIES = 256;
export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_METADATA_DEPTH = 8;

const cleanString = (s: string): boolean => s.isWellFormed() && !s.includes('\u0000');

function jsonIsClean(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return cleanString(value);
  if (value === null || typeof value !== 'object') return true;
  if (depth >= MAX_METADATA_DEPTH) return false;
  if (Array.isArray(value)) return value.every((v) => jsonIsClean(v, depth + 1));
  return Object.entries(value).every(([k, v]) => cleanString(k) && jsonIsClean(v, depth + 1));
}

/** Text that PostgreSQL can store and a person meant to send: well-formed Unicode, no NUL bytes, not blank. */
export function assertText(
  field: string,
  value: string,
  maxChars: number,
  options: { allowEmpty?: boolean } = {},
): string {
  if (!value.isWellFormed())
    throw badInput(`${field} is not valid Unicode (it contains an unpaired surrogate)`, { field });
  if (value.includes('\u0000'))
    throw badInput(`${field} contains a NUL character, which cannot be stored`, { field });
  if (!options.allowEmpty && value.trim() === '') throw badInput(`${field} must not be empty`, { field });
  if (value.length > maxChars) {
    throw badInput(`${field} is ${value.length} characters long; the limit is ${maxChars}`, {
      field,
      limit: maxChars,
    });
  }
  return value;
}

export function assertSourceId(field: string, value: string): string {
  if (!SOURCE_ID_PATTERN.test(value)) {
    throw badInput(
      `${field} must be 1-128 characters of letters, digits, '_', '.', ':' or '-', starting with a letter or digit`,
      { field },
    );
  }
  return value;
}

/** Deduplicated, validated principals. An empty ACL is allowed: it means nobody can read. */
export function normalizeAcl(field: string, acl: readonly string[]): string[] {
  if (acl.length > MAX_ACL_ENTRIES)
    throw badInput(`${field} has ${acl.length} entries; the limit is ${MAX_ACL_ENTRIES}`, { field });
  for (const p of acl) {
    if (!PRINCIPAL_PATTERN.test(p)) {
      throw badInput(`${field} entry ${JSON.stringify(p.slice(0, 64))} is not a user id or role:<name>`, {
        field,
      });
    }
  }
  return [...new Set(acl)];
}

export function normalizeMetadata(field: string, value: unknown): JsonObject {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw badInput(`${field} must be a JSON object`, { field });
  // Checked before serializing: JSON.stringify recurses, and a 100,000-deep array (200 KB of brackets) would
  // overflow the stack. JSON.stringify also escapes lone surrogates, so the serialized form looks fine while
  // PostgreSQL's jsonb would reject it: every key and string is checked itself.
  const clean = jsonIsClean(value, 0);
  const serialized = clean ? JSON.stringify(value) : '';
  if (Buffer.byteLength(serialized) > MAX_METADATA_BYTES) {
    throw badInput(`${field} is larger than ${MAX_METADATA_BYTES} bytes`, {
      field,
      limit: MAX_METADATA_BYTES,
    });
  }
  if (!clean) {
    throw badInput(
      `${field} contains a NUL character, invalid Unicode, or nests deeper than ${MAX_METADATA_DEPTH} levels`,
      {
        field,
      },
    );
  }
  return value as JsonObject;
}

/** A date PostgreSQL's timestamptz accepts and a person could mean: years 1 to 9999. */
export function assertDate(field: string, value: Date): Date {
  const year = value.getUTCFullYear();
  if (Number.isNaN(value.getTime()) || year < 1 || year > 9999) {
    throw badInput(`${field} must be a date between the years 1 and 9999`, { field });
  }
  return value;
}
