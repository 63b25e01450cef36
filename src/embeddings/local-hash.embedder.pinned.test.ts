import crypto from 'node:crypto';
import { syntheticDocuments } from '../../bench/ingestion-corpus';
import { LocalHashEmbedder } from './local-hash.embedder';

/**
 * The exact bits of `local-hash-v1` vectors, recorded from the implementation before it was optimized (issue 13):
 * stored corpora hold these vectors and are compared with query vectors computed now, so any change — even in the
 * last bit of one component, e.g. from adding the same features in another order — would silently mix two models.
 * Covers NFKC folding, non-Latin scripts, astral characters, stopword-only and empty text, repeated terms and a
 * generated corpus.
 */
const sha = (v: readonly number[]): string =>
  crypto
    .createHash('sha256')
    .update(Buffer.from(Float64Array.from(v).buffer))
    .digest('hex');

const PINNED: [text: string, sha1536: string, sha64: string, firstNonZero: [number, number][]][] = [
  [
    'Where is my refund for order #1234?',
    '9d38952e445f320c6770bba52365c5b33e171ce8f5f6723711807caa85c3a5d3',
    'f86fe711c0b430881e183e7c7db02deabbd10aa6f0c9ebbccc4ef795d013be5f',
    [
      [37, -0.11867816581938533],
      [179, 0.11867816581938533],
    ],
  ],
  [
    '',
    '9f4f35176e028118f77dce2ef90c118a5281e834890f182b53cfa4d9483073d6',
    '098837b89017515c3ef765ef4da84a4a4dce5c49bb912619f5ae2e22a4ddecf8',
    [[238, 1]],
  ],
  [
    '?!',
    '9f4f35176e028118f77dce2ef90c118a5281e834890f182b53cfa4d9483073d6',
    '098837b89017515c3ef765ef4da84a4a4dce5c49bb912619f5ae2e22a4ddecf8',
    [[238, 1]],
  ],
  [
    'the and of it is',
    'e1ea1b252eb8786123f97b620f77a1038e55ae5441e104db013b8e0a24a0e486',
    '8f4ad58ba8ac6a4749b11f9883648fb9a7cd09900d7446de98a9f936795233af',
    [
      [77, -0.19245008972987526],
      [115, 0.09622504486493763],
    ],
  ],
  [
    'Ｆｕｌｌ-width ＡＢＣ ①② ﬁnance café Ǆ',
    'da293df0d6c58d7ee5e6fbef45c479bfc5492214e8685c0fc624ac84a4fc163f',
    '0197ad83906a077cd413dacf2469d316e42e1a828558b01aa275ed3c49cc1b96',
    [
      [66, -0.07881104062391006],
      [130, -0.31524416249564025],
    ],
  ],
  [
    'Rücksendung: Wie beantrage ich eine Erstattung? Straße 12',
    '20e1af5dc8b5d93de6bbae1336c1e367d1cc96b5c53323ec414f7ec5558048e5',
    '4f71f90620adfe1dca3645ef67f2df724b0071ae544ca32fb4d583936a9cbc9b',
    [
      [30, -0.06858325965438622],
      [56, -0.13716651930877244],
    ],
  ],
  [
    '日本語のテキストと English words mixed 東京',
    'a5f0da183159e5f022a3bdfc7a255df1f711b458f894cc04daefafb40ec89a6e',
    '466a5ce6b92c2295cf5577d6e9388d9ec2daaa581f478ec30e3b766abb50f9bb',
    [
      [13, 0.09016696346674323],
      [108, -0.3606678538669729],
    ],
  ],
  [
    'emoji 👍🏽 and surrogate 😀 pairs 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
    'f19a8e3764976b7cd961bafa41a700eb85781d3cc62dce5f03a56673efe1230d',
    '03261ad1056756b6b84d0f5b6d131ed4a23832bfa0067e1d2670f698531d5ef4',
    [
      [69, -0.09950371902099892],
      [172, -0.09950371902099892],
    ],
  ],
  [
    'refund refund refund refunds refunding refunded',
    '120e844192b6d8044912293adf78859aa85ac6e8c678d21a9e4ea31187436a0a',
    'b0c39d796f334f365c2a097fc5fc0d3faf02502135cde99645ece5801f6bfab9',
    [
      [37, -0.1694416093101188],
      [365, 0.1694416093101188],
    ],
  ],
  [
    'PowerBI.com getUserName HTTP_PROXY v2.3.4 e-mail user@example.com',
    '9ae1fdb69199102c8c85712f104c7973700fbf724277e8d6090badc86fdc1453',
    'fd3b3705092033f6dfe6f3ce2ad936c56a9901aa19ed949d6b9b4b753ca6b66b',
    [
      [19, 0.2222855550084589],
      [46, -0.055571388752114724],
    ],
  ],
  [
    'Returns › Damaged items\nIf your parcel arrived damaged, send us a photo within 14 days and we will replace it or refund you.',
    '5a708079a49d3a2c9a8000ecd647b8a36d11c18bd3047ea6601d98a1317f3512',
    'fc74dc6384c7d150937eb055789c3bc769d970374f930782b81b86d965fe0552',
    [
      [25, -0.09142001631250685],
      [37, -0.05399413433288953],
    ],
  ],
  [
    'ĲSSELMEER ǅungla İstanbul ΣΊΣΥΦΟΣ straße',
    'e2a1edaf94a161ec5d62625ed6311d18f45afe0048aba9f86e73b0884920e125',
    '00a41349f07a928722c8b494f454456cb5ec2d62ea8f57ffebd8c876eeabac28',
    [
      [9, -0.34571930853040145],
      [113, 0.08642982713260036],
    ],
  ],
];

describe('LocalHashEmbedder: pinned output (bit for bit)', () => {
  const e1536 = new LocalHashEmbedder(1536);
  const e64 = new LocalHashEmbedder(64);

  it.each(PINNED)('embeds %j exactly as recorded', (text, sha1536, sha64, firstNonZero) => {
    const v = e1536.embedOne(text);
    expect(
      v
        .map((x, i): [number, number] => [i, x])
        .filter(([, x]) => x !== 0)
        .slice(0, 2),
    ).toEqual(firstNonZero);
    expect(sha(v)).toBe(sha1536);
    expect(sha(e64.embedOne(text))).toBe(sha64);
  });

  it('embeds a generated corpus exactly as recorded', () => {
    const h = crypto.createHash('sha256');
    for (const d of syntheticDocuments(40, 7)) {
      for (const p of d.text.split('\n\n')) {
        h.update(Buffer.from(Float64Array.from(e1536.embedOne(`${d.title}\n${p}`)).buffer));
      }
    }
    expect(h.digest('hex')).toBe('c09f8290371c04b4635753394c1fa28c1b3ad9c1e25a7dec3b0f6eb9a4e3eda7');
  });
});
