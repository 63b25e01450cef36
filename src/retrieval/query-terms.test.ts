import { queryTerms } from './query-terms';

describe('queryTerms', () => {
  it('splits hosts, URLs and identifiers into words', () => {
    expect(queryTerms('open support.example.com/path user_id')).toEqual(
      expect.arrayContaining(['support', 'example', 'com', 'path', 'user', 'id']),
    );
  });

  it('splits inner capitals and keeps the whole word', () => {
    expect(queryTerms('PowerBI')).toEqual(['powerbi', 'power', 'bi']);
    expect(queryTerms('getUserName')).toEqual(expect.arrayContaining(['getusername', 'get', 'user', 'name']));
    expect(queryTerms('HTTPServer')).toEqual(expect.arrayContaining(['http', 'server']));
  });

  it('joins adjacent words, except two stopwords', () => {
    expect(queryTerms('Power BI')).toEqual(['power', 'bi', 'powerbi']);
    expect(queryTerms('log in')).toContain('login');
    expect(queryTerms('in the')).toEqual(['in', 'the']);
  });

  it('drops the websearch operator "or" and caps the count', () => {
    expect(queryTerms('refund or return')).not.toContain('or');
    expect(queryTerms(Array.from({ length: 100 }, (_, i) => `w${i}`).join(' '))).toHaveLength(64);
  });
});
