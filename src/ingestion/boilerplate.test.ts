import { type Boilerplate, BoilerplateDetector } from './boilerplate';

const NAV = 'Log in · Sign up · Help Center';
const FOOTER = '© 2026 Acme Inc. Privacy Policy | Terms of Service';
const page = (i: number, extra = '') =>
  `# Article ${i}\n\n${NAV}\n\nThe answer number ${i} is specific to this page.\n\n## Related articles\n\n- Returns\n- Shipping\n\n${FOOTER}${extra}`;

function detect(texts: string[], options = {}): Boilerplate {
  const d = new BoilerplateDetector(options);
  for (const t of texts) d.add(t);
  return d.finish();
}

describe('boilerplate stripping', () => {
  const pages = Array.from({ length: 10 }, (_, i) => page(i));

  it('finds blocks repeated across files and reports them with their file counts', () => {
    const b = detect([...pages, '# Other\n\nUnrelated text.']);
    expect(b.blocks()).toEqual([
      { text: '- Returns - Shipping', files: 10 },
      { text: NAV, files: 10 },
      { text: FOOTER, files: 10 },
    ]);
  });

  it('strips them, and a repeated heading only together with its emptied section', () => {
    const b = detect(pages);
    expect(b.strip(pages[3])).toBe('# Article 3\n\nThe answer number 3 is specific to this page.');
    expect(b.stats).toEqual({ documents: 1, blocks: 4, keptWhole: 0 });
    // A section with its own text keeps its (repeated) heading.
    expect(b.strip(page(4).replace('- Shipping', '- Shipping\n\nAsk us about gift returns.'))).toContain(
      '## Related articles\n\nAsk us about gift returns.',
    );
  });

  it('matches however a block is cased, spaced or emphasized, but never inside code', () => {
    const b = detect(pages);
    expect(
      b.strip(`Intro.\n\n**log  in** · sign up · help   CENTER\n\n\`\`\`\n${NAV}\n\n${FOOTER}\n\`\`\``),
    ).toBe(`Intro.\n\n\`\`\`\n${NAV}\n\n${FOOTER}\n\`\`\``);
  });

  it('never strips a document down to nothing, nor its title heading', () => {
    const b = detect(pages);
    expect(b.strip(`${NAV}\n\n${FOOTER}`)).toBe(`${NAV}\n\n${FOOTER}`);
    expect(b.stats.keptWhole).toBe(1);
    // The same "# Acme Help" heading at the top of every file is structure, not boilerplate.
    const titled = pages.map((p) => `# Acme Help\n\n${p}`);
    expect(detect(titled).strip(titled[0])).toMatch(/^# Acme Help\n\n# Article 0\n\nThe answer/);
  });

  it('strips nothing below the thresholds', () => {
    expect(detect(pages.slice(0, 4)).blocks()).toEqual([]); // fewer than 5 files
    const mostlyOther = [...pages.slice(0, 5), ...Array.from({ length: 20 }, (_, i) => `Doc ${i}.`)];
    expect(detect(mostlyOther).blocks()).toEqual([]); // 5 of 25 files: under 30%
    expect(detect(mostlyOther, { minShare: 0.2 }).blocks()).toHaveLength(3);
    expect(detect(pages, { minFiles: 11 }).blocks()).toEqual([]);
  });

  it('keeps counts bounded over a long stream and still finds what repeats', () => {
    const d = new BoilerplateDetector();
    for (let i = 0; i < 5000; i++)
      d.add(`Unique paragraph ${i}.\n\nAnother unique ${i}.${i % 2 === 0 ? `\n\n${FOOTER}` : ''}`);
    expect((d as unknown as { counts: Map<string, unknown> }).counts.size).toBeLessThan(3000);
    expect(d.finish().blocks()).toEqual([{ text: FOOTER, files: 2500 }]);
  });
});
