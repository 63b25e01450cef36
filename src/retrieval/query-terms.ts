/**
 * The keyword side's query normalization, before PostgreSQL's english configuration stems the words and drops
 * the stopwords (the same configuration as the index, migration 1765000000000):
 *  - words are runs of letters and digits, lower-cased (so hosts, URLs and identifiers — `PowerBI.com`,
 *    `support.example.com/path`, `user_id` — arrive as their parts);
 *  - a word with inner capitals also gives its parts (`PowerBI` → `power`, `bi`; `getUserName` → `get`, `user`,
 *    `name`), as the index does for the text (search_split_compounds);
 *  - two adjacent words also give their join (`Power BI` → `powerbi`, `log in` → `login`, `wi fi` → `wifi`),
 *    unless both are stopwords: the join meets a text that writes the compound as one word.
 * `or` is left out: it is an operator for websearch_to_tsquery. At most 64 terms.
 */
export function queryTerms(text: string): string[] {
  const words = text.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? [];
  const out = new Set<string>();
  for (const w of words) {
    out.add(w.toLowerCase());
    const parts = camelParts(w);
    if (parts.length > 1) for (const p of parts) out.add(p.toLowerCase());
  }
  for (let i = 0; i + 1 < words.length; i++) {
    const [a, b] = [words[i].toLowerCase(), words[i + 1].toLowerCase()];
    if ((STOPWORDS.has(a) && STOPWORDS.has(b)) || a === 'or' || b === 'or') continue;
    if (a.length + b.length <= 24) out.add(a + b);
  }
  out.delete('or');
  return [...out].slice(0, 64);
}

/** `PowerBI` → Power, BI; `getUserName` → get, User, Name; `HTTPServer` → HTTP, Server. */
function camelParts(word: string): string[] {
  return word
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1 $2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1 $2')
    .split(' ')
    .filter((p) => p !== '');
}

/** A few of PostgreSQL's english stopwords: two of them side by side are not a compound ("to do", "in the"). */
const STOPWORDS = new Set(
  'a an and are as at be by do does for from has have he her his how i if in is it its me my no not of on or our so than that the their them then there these they this to too up was we what when where which who why will with you your'.split(
    ' ',
  ),
);
