import { type EntityManager } from 'typeorm';

/**
 * Vectors as ONE binary `vector[]` bind parameter (PostgreSQL's array wire format around pgvector's `vector_recv`
 * format) instead of text: the text form of a 1536-d vector is ~27 KB that Node must format and the server must parse
 * number by number (`strtof`), about a fifth of a chunk's write cost (docs/INGESTION.md, "Where the time goes");
 * binary is 6 KB copied as is. node-postgres sends a Buffer parameter in binary format.
 *
 * The stored values stay exactly what the text form stored, bit for bit: pgvector parses text with `strtof`, i.e.
 * it rounds the shortest decimal that names the double, not the double itself. The two roundings agree except when
 * the double lies exactly halfway between two floats; there the decimal decides (float4OfText).
 */

/** The `vector` type's oid differs per database (an extension type): asked once per DataSource. */
const vectorOids = new WeakMap<object, Promise<number>>();

export function vectorTypeOid(manager: Pick<EntityManager, 'query' | 'connection'>): Promise<number> {
  let known = vectorOids.get(manager.connection);
  if (known === undefined) {
    known = manager
      .query<{ oid: number }[]>(`SELECT 'vector'::regtype::oid::int AS oid`)
      .then((rows) => Number(rows[0].oid));
    known.catch(() => vectorOids.delete(manager.connection));
    vectorOids.set(manager.connection, known);
  }
  return known;
}

const f64 = new Float64Array(1);
const words = new Uint32Array(f64.buffer);
/** Index of the low 32 bits of a double in `words` (little-endian machines: 0). */
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const f32 = new Float32Array(1);
const f32bits = new Uint32Array(f32.buffer);

/**
 * The float4 that `strtof(String(x))` gives, as pgvector's text input computes it. Math.fround(x) rounds x itself;
 * the decimal String(x) is not x but lies within half a double-ulp of it, so both round to the same float unless x
 * is exactly a midpoint between two floats — then String(x) lies on one side of it (or is it exactly, then ties go
 * to even, as fround does).
 */
export function float4OfText(x: number): number {
  const f = Math.fround(x);
  if (f === x || !Number.isFinite(f)) return f;
  const a = Math.abs(x);
  const near = Math.fround(a);
  f32[0] = near;
  f32bits[0] += a > near ? 1 : -1;
  const other = f32[0];
  if ((near + other) / 2 !== a) return f; // not a midpoint: one rounding
  const side = compareDecimalWithDouble(String(a), a);
  if (side === 0) return f;
  const pick = side > 0 ? Math.max(near, other) : Math.min(near, other);
  return x < 0 ? -pick : pick;
}

/** Sign of (decimal − value), exactly: the decimal is what String() printed for a positive finite double. */
function compareDecimalWithDouble(decimal: string, value: number): number {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(decimal);
  if (!m) throw new Error(`unexpected number text ${decimal}`);
  const digits = BigInt(m[1] + (m[2] ?? ''));
  const exp10 = Number(m[3] ?? 0) - (m[2]?.length ?? 0);
  f64[0] = value;
  const hi = words[1 - LOW];
  const lo = words[LOW];
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased !== 0) mantissa |= 1n << 52n;
  const exp2 = (biased === 0 ? 1 : biased) - 1075;
  let left = digits;
  let right = mantissa;
  if (exp10 >= 0) left *= 10n ** BigInt(exp10);
  else right *= 10n ** BigInt(-exp10);
  if (exp2 >= 0) right *= 2n ** BigInt(exp2);
  else left *= 2n ** BigInt(-exp2);
  return left > right ? 1 : left < right ? -1 : 0;
}

/**
 * A `vector[]` in binary wire format: ndim 1, no nulls, element type, length, lower bound 1; then per vector its
 * byte length and vector_recv's layout (int16 dimensions, int16 0, float4 big-endian each).
 */
export function vectorArrayParameter(vectors: readonly (readonly number[])[], vectorOid: number): Buffer {
  let size = 20;
  for (const v of vectors) size += 8 + 4 * v.length;
  const buf = Buffer.alloc(size);
  buf.writeInt32BE(1, 0);
  buf.writeInt32BE(0, 4);
  buf.writeUInt32BE(vectorOid, 8);
  buf.writeInt32BE(vectors.length, 12);
  buf.writeInt32BE(1, 16);
  let at = 20;
  for (const v of vectors) {
    buf.writeInt32BE(4 + 4 * v.length, at);
    buf.writeInt16BE(v.length, at + 4);
    buf.writeInt16BE(0, at + 6);
    at += 8;
    for (let i = 0; i < v.length; i++) {
      let x = v[i];
      // A midpoint between two floats has at most 25 significant bits, so the low 28 bits of its double are 0:
      // only those few values take the exact (slow) path.
      f64[0] = x;
      if ((words[LOW] & 0x0fffffff) === 0) x = float4OfText(x);
      buf.writeFloatBE(x, at);
      at += 4;
    }
  }
  return buf;
}
