/**
 * A query vector as a binary `vector` parameter (pgvector's vector_recv format: int16 dimensions, int16 unused,
 * then float4 values, big-endian). node-pg sends a Buffer parameter in binary format, so the server reads 6 KB of
 * floats instead of parsing ~20 KB of decimal text, and the gateway writes them instead of formatting 1,536
 * numbers into a string per request (pgvector's toSql): measured in docs/benchmarks/gateway-profile.md.
 * Values round to float4 exactly as the text path does (nearest); the caller has checked they are finite.
 */
export function vectorParam(values: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(4 + 4 * values.length);
  buf.writeInt16BE(values.length, 0);
  buf.writeInt16BE(0, 2);
  for (let i = 0; i < values.length; i++) buf.writeFloatBE(values[i], 4 + 4 * i);
  return buf;
}
