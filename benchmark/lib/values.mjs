// Deterministic values for the benchmarks (the same on every run, so encoded sizes are too).

/** A string of exactly `length` ASCII characters, not one repeated character. */
export function text(length) {
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ';
  return words.repeat(Math.ceil(length / words.length)).slice(0, length);
}

/** Deterministic pseudo-random bytes (xorshift32; a Buffer of zeros would not be typical). */
export function bytes(length) {
  const buf = Buffer.alloc(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
}
