import { assertMayManageContent } from '../auth/permissions';
import { badInput } from '../common/errors/domain-error';
import { assertText } from '../common/validation';
import { type Config } from '../config/config';
import { type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type TenantSession } from '../db/session';
import { type SynonymRepository } from './synonym.repository';

/** Limits of one merchant's synonym list (each keyword search reads all of it). */
export const SYNONYM_LIMITS = { groups: 500, termsPerGroup: 10, termChars: 100, wordsPerTerm: 6 } as const;

/**
 * A merchant's synonym groups for keyword search: content managers replace the whole list at once (one
 * transaction: all of it or nothing), readers' searches use it. Every method is scoped by the caller.
 */
export class SynonymService {
  constructor(
    private readonly synonyms: SynonymRepository,
    private readonly corpus: CorpusVersionRepository,
    private readonly config: Config,
  ) {}

  async list(session: TenantSession): Promise<string[][]> {
    assertMayManageContent(session.identity, this.config);
    return session.transaction((m) => this.synonyms.list(m, session.scope.merchantId));
  }

  /** Replaces every group; an empty list removes them all. Returns the groups as stored. */
  async replace(session: TenantSession, groups: readonly (readonly string[])[]): Promise<string[][]> {
    assertMayManageContent(session.identity, this.config);
    const clean = normalizeGroups(groups);
    const { merchantId } = session.scope;
    return session.transaction(async (m) => {
      // Two replacements of one merchant's list at once would both delete, then collide on insert: one waits.
      await this.corpus.lockMerchant(m, merchantId, 'update');
      const empty = await this.synonyms.replace(m, merchantId, clean);
      if (empty.length > 0) {
        const { group, term } = empty[0];
        throw badInput(
          `groups[${group}].terms[${term}] ${JSON.stringify(clean[group][term])} has no searchable word ` +
            `(only stopwords such as "the" or "of", or punctuation): use a word that documents contain`,
          { field: `groups[${group}].terms[${term}]`, reason: 'SYNONYM_WITHOUT_WORDS' },
        );
      }
      return clean.map((g) => [...g]);
    });
  }
}

/**
 * Checked and trimmed (whitespace collapsed), with the limits and a `reason` in the error details that a client
 * can switch on: TOO_MANY_SYNONYM_GROUPS, SYNONYM_GROUP_SIZE, SYNONYM_TOO_LONG, SYNONYM_DUPLICATE.
 */
export function normalizeGroups(groups: readonly (readonly string[])[]): string[][] {
  const { groups: maxGroups, termsPerGroup, termChars, wordsPerTerm } = SYNONYM_LIMITS;
  if (groups.length > maxGroups) {
    throw badInput(`groups has ${groups.length} groups; the limit is ${maxGroups}`, {
      field: 'groups',
      reason: 'TOO_MANY_SYNONYM_GROUPS',
      limit: maxGroups,
    });
  }
  return groups.map((terms, g) => {
    const field = `groups[${g}].terms`;
    if (terms.length < 2 || terms.length > termsPerGroup) {
      throw badInput(`${field} has ${terms.length} terms; a group has 2..${termsPerGroup}`, {
        field,
        reason: 'SYNONYM_GROUP_SIZE',
        limit: termsPerGroup,
      });
    }
    const seen = new Map<string, number>();
    return terms.map((raw, i) => {
      const term = assertText(`${field}[${i}]`, raw, termChars).replace(/\s+/g, ' ').trim();
      if (term.split(' ').length > wordsPerTerm) {
        throw badInput(
          `${field}[${i}] has more than ${wordsPerTerm} words: synonyms are words or short phrases`,
          {
            field: `${field}[${i}]`,
            reason: 'SYNONYM_TOO_LONG',
            limit: wordsPerTerm,
          },
        );
      }
      const key = term.toLowerCase();
      const first = seen.get(key);
      if (first !== undefined) {
        throw badInput(`${field}[${i}] repeats ${field}[${first}] (${JSON.stringify(term)})`, {
          field: `${field}[${i}]`,
          reason: 'SYNONYM_DUPLICATE',
        });
      }
      seen.set(key, i);
      return term;
    });
  });
}
