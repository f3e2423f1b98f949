// A log-bucketed latency histogram: bucket i holds values in (MIN·B^(i-1), MIN·B^i] µs with
// B = 1.02, so a percentile read from it is within about 1 % of the exact value. Members fill
// one per measurement and send it to the parent as sparse [index, count] pairs; the parent merges
// the histograms of all processes, so p50/p99 are over ALL calls, not an average of percentiles.
const BASE = 1.02;
const LOG_BASE = Math.log(BASE);
const MIN_US = 0.1; // values at or below 0.1 µs go to bucket 0
const BUCKETS = 1400; // up to 0.1 µs · 1.02^1399 ≈ 1e11 µs

export class Histogram {
  constructor() {
    this.counts = new Float64Array(BUCKETS);
    this.n = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** Records one value in microseconds. */
  add(us) {
    const i = us <= MIN_US ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us / MIN_US) / LOG_BASE));
    this.counts[i]++;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  /** A JSON-able sparse form: { n, max, sum, b: [[index, count], ...] }. */
  toJSON() {
    const b = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] > 0) b.push([i, this.counts[i]]);
    return { n: this.n, max: this.max, sum: this.sum, b };
  }

  /** Adds a histogram or its toJSON() form. */
  merge(other) {
    const sparse = other instanceof Histogram ? other.toJSON() : other;
    for (const [i, c] of sparse.b) this.counts[i] += c;
    this.n += sparse.n;
    this.sum += sparse.sum;
    if (sparse.max > this.max) this.max = sparse.max;
    return this;
  }

  /** The q-quantile (0..1) in µs: the geometric middle of the bucket holding it; null if empty. */
  percentile(q) {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return i === 0 ? MIN_US : Math.min(this.max, MIN_US * BASE ** (i - 0.5));
    }
    return this.max;
  }

  get mean() {
    return this.n ? this.sum / this.n : null;
  }
}
