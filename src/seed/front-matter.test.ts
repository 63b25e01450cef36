import { FrontMatterError, parseFrontMatter } from './front-matter';

const F = 'kb/refunds.md';
const problem = (source: string, roleNames?: string[]): string => {
  try {
    parseFrontMatter(source, { file: F, roleNames });
  } catch (err) {
    if (err instanceof FrontMatterError) return err.message;
    throw err;
  }
  throw new Error('parsed without complaint');
};

describe('front matter', () => {
  it('reads id, title, acl and metadata, and leaves the body', () => {
    const parsed = parseFrontMatter(
      '\uFEFF---\r\nid: 7\r\ntitle: Refund Policy\r\nacl: [role:agent, u7, user:agent]\r\nmetadata: { category: refund }\r\n---\r\n# Refunds\r\n\r\n30 days.',
      { file: F },
    );
    expect(parsed).toEqual({
      attributes: {
        id: '7',
        title: 'Refund Policy',
        acl: ['role:agent', 'u7', 'agent'],
        metadata: { category: 'refund' },
      },
      body: '# Refunds\n\n30 days.',
    });
    expect(parseFrontMatter('# Just a body\n\n---\n\nafter a rule')).toEqual({
      attributes: {},
      body: '# Just a body\n\n---\n\nafter a rule',
    });
    expect(parseFrontMatter('---\n---\nBody.').attributes).toEqual({});
  });

  it('refuses a bare principal that names a role, with file and line', () => {
    expect(problem('---\ntitle: Refunds\nacl: [agent]\n---\nBody.')).toBe(
      'kb/refunds.md:3: acl entry "agent" names a user called "agent", which is almost certainly meant as a role: ' +
        'write role:agent (or user:agent if a user really has that id)',
    );
    // Block lists name the entry's own line; a role the same ACL names, or one configured, counts too.
    expect(problem('---\nacl:\n  - role:billing\n  - billing\n---\n')).toMatch(
      /^kb\/refunds\.md:4: acl entry "billing"/,
    );
    expect(problem('---\nacl: [returns-desk]\n---\n', ['returns-desk'])).toMatch(
      /:2: acl entry "returns-desk"/,
    );
  });

  it('refuses an opening --- that is never closed, and front matter below the first line', () => {
    expect(problem('---\ntitle: Refunds\nacl: [role:agent]\n\n# Refunds\n\n30 days.')).toBe(
      'kb/refunds.md:1: the front matter opened here is never closed by a line of ---',
    );
    expect(problem('\n---\nacl: [role:agent]\n---\nBody.')).toBe(
      'kb/refunds.md:2: front matter must start on the first line (it would be read as body text)',
    );
  });

  it('refuses unknown keys with a did-you-mean, and values of the wrong type', () => {
    expect(problem('---\nid: r1\ntitel: Refunds\n---\nBody.')).toBe(
      'kb/refunds.md:3: unknown key "titel" (did you mean title?): front matter takes id, title, acl, metadata; ' +
        'put anything else under metadata',
    );
    expect(problem('---\ntags: [a]\n---\n')).toMatch(
      /^kb\/refunds\.md:2: unknown key "tags": front matter takes/,
    );
    expect(problem('---\nacl: role:agent\n---\n')).toMatch(
      /^kb\/refunds\.md:2: acl must be a list of principals/,
    );
    expect(problem('---\nacl: [role:agent, [x]]\n---\n')).toMatch(/:2: acl entries must be principals/);
    expect(problem('---\ntitle: [a, b]\n---\n')).toMatch(/:2: title must be a non-empty string/);
    expect(problem('---\nid: { a: 1 }\n---\n')).toMatch(/:2: id must be a string/);
    expect(problem('---\n\nmetadata: refund\n---\n')).toMatch(/:3: metadata must be a mapping/);
    expect(problem('---\nacl: [user:role:agent]\n---\n')).toMatch(
      /:2: "user:role:agent": "role:agent" is not a valid user id/,
    );
  });

  it('names the line of a YAML error and of a duplicate key', () => {
    expect(problem('---\ntitle: Refunds\nacl: [unclosed\n---\nBody.')).toMatch(
      /^kb\/refunds\.md:[34]: YAML: /,
    );
    expect(problem('---\ntitle: A\ntitle: B\n---\n')).toMatch(
      /^kb\/refunds\.md:3: YAML: .*[Mm]ap keys must be unique/,
    );
    expect(problem('---\n- a\n- b\n---\n')).toMatch(/:2: front matter must be a YAML mapping/);
  });
});
