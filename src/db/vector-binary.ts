/**
 * A query vector as a binary `vector` parameter (pgvector's vector_recv format: int16 dimensions, int16 unused,
 * then float4 values, big-endian). node-pg sends a Buffer parameter in binary format, so the server reads 6 KB of
 * floats instead of parsing ~20 KB of decimal text, and the gateway writes them instead of formatting 1,536
 * numbers into a string per request (pgvector's toSql): measured in docs/benchmarks/gateway-profile.md.
 * Values round to float4 exactly as the text path does (nearest); the caller has checked they are finite.
 */
export function vectorParam(values: ArrayLike<number>): Buffer {
  const buf = Buffer.allocUnsafe(4 + 4 * values.length);
  buf.writeInt16BE(values.length, 0);
  buf.writeInt16BE(0, 2);
  for (let i = 0; i < values.length; i++) buf.writeFloatBE(values[i], 4 + 4 * i);
  return buf;
}

/**
 * A stored vector read in pgvector's binary form (`vector_send(embedding)`, the format vectorParam writes), as
 * numbers. Reading `embedding::text` instead made the server print and the gateway parse 20-30 KB of decimals per
 * 1,536-d vector (~0.4 ms to parse full-precision floats, ~0.05 to decode these bytes; the embedding cache of a
 * re-ingest reads one per unchanged chunk: docs/INGESTION.md, run F). Each value is the float4 itself as a double;
 * the text gave its shortest decimal instead, which rounds to the same float4 when the vector is written again.
 */
export function vectorFromBinary(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getInt16(0);
  if (n < 0 || bytes.byteLength !== 4 + 4 * n) {
    throw new Error(`not a binary vector: ${bytes.byteLength} bytes for ${n} dimensions`);
  }
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 + 4 * i);
  return out;
}
