import { CHUNKER_VERSION } from '../chunks/chunking/chunker';
import { chunkerSignature } from './source-preparation';

describe('chunkerSignature', () => {
  const base = { targetTokens: 350, overlapTokens: 0, contextHeader: true };

  it('names the chunker version and every setting, whatever the key order', () => {
    expect(chunkerSignature(base)).toBe(
      `chunker-v${CHUNKER_VERSION};contextHeader=true;overlapTokens=0;targetTokens=350`,
    );
    expect(chunkerSignature({ contextHeader: true, overlapTokens: 0, targetTokens: 350 })).toBe(
      chunkerSignature(base),
    );
  });

  it('differs when any setting differs, so stored documents are re-chunked on their next ingest', () => {
    const variants = [
      base,
      { ...base, targetTokens: 200 },
      { ...base, overlapTokens: 32 },
      { ...base, contextHeader: false },
    ].map(chunkerSignature);
    expect(new Set(variants).size).toBe(variants.length);
  });
});
