/**
 * Sentence pooling for models whose ONNX graph outputs token states only (most exports of
 * sentence-transformers models), and L2 normalisation, as sentence-transformers computes them.
 * Inputs are padded on the right, so a row's attended tokens are its first `lengths[row]`.
 */

/** One vector per row of `hidden` ([rows, sequence, width], row-major). */
export function poolTokenStates(
  hidden: Float32Array,
  { dims, lengths, pooling }: {
    dims: readonly number[];
    lengths: readonly number[];
    pooling: "mean" | "cls";
  },
): Float32Array[] {
  const [rows, sequence, width] = dims;
  if (dims.length !== 3 || rows === undefined || sequence === undefined || width === undefined) {
    throw new RangeError(`Cannot pool token states: expected 3 dimensions, got [${dims}]`);
  }
  if (rows !== lengths.length) {
    throw new RangeError(`Cannot pool token states: ${rows} rows but ${lengths.length} lengths`);
  }
  const out: Float32Array[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * sequence * width;
    if (pooling === "cls") {
      out.push(hidden.slice(base, base + width));
      continue;
    }
    const count = Math.min(lengths[r]!, sequence);
    const sum = new Float64Array(width);
    for (let t = 0; t < count; t++) {
      const offset = base + t * width;
      for (let h = 0; h < width; h++) sum[h]! += hidden[offset + h]!;
    }
    const vector = new Float32Array(width);
    const divisor = Math.max(count, 1e-9);
    for (let h = 0; h < width; h++) vector[h] = sum[h]! / divisor;
    out.push(vector);
  }
  return out;
}

/** Scales `vector` to unit length in place (a zero vector stays zero). */
export function l2Normalize(vector: Float32Array): Float32Array {
  let squares = 0;
  for (const v of vector) squares += v * v;
  const norm = Math.max(Math.sqrt(squares), 1e-12);
  for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! / norm;
  return vector;
}
