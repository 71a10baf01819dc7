//! A small log-linear latency histogram (microseconds): exact below 64 µs, then 64 buckets per
//! power of two (under 1.6 % relative error), cheap enough to record every record's latency.

/// Sub-buckets per power of two (2^SUB_BITS).
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets covering every u64 value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Counts of values (microseconds) in log-linear buckets.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], total: 0, max: 0, sum: 0 }
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = e - SUB_BITS;
    let sub = (v >> shift) - SUB;
    ((u64::from(e - SUB_BITS + 1)) * SUB + sub) as usize
}

/// The largest value that falls into bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = i / SUB - 1 + u64::from(SUB_BITS);
    let sub = i % SUB;
    let shift = e - u64::from(SUB_BITS);
    let low = (sub + SUB) << shift;
    low.saturating_add((1u64 << shift) - 1)
}

impl Histogram {
    /// Record one value.
    pub(crate) fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(index(v)) {
            *c += 1;
        }
        self.total += 1;
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Add every value of `other`.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// How many values were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded.
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The mean (0 when empty).
    pub(crate) fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The `q`-quantile (0 < q ≤ 1), as the upper edge of its bucket (never above the max).
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    /// `{count, p50_ms, p99_ms, max_ms, mean_ms}` in milliseconds.
    pub(crate) fn json_ms(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.total,
            "p50_ms": self.quantile(0.50) as f64 / 1e3,
            "p99_ms": self.quantile(0.99) as f64 / 1e3,
            "p999_ms": self.quantile(0.999) as f64 / 1e3,
            "max_ms": self.max as f64 / 1e3,
            "mean_ms": self.mean() / 1e3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_with_small_error() {
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 12_345, 1 << 40, u64::MAX] {
            let i = index(v);
            assert!(upper(i) >= v, "{v}: upper {}", upper(i));
            assert!(i == 0 || upper(i - 1) < v, "{v}");
            assert!((upper(i) - v) as f64 <= v as f64 / 60.0 + 1.0, "{v}: {}", upper(i));
        }
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.total, 1000);
        assert!((h.quantile(0.5) as i64 - 500).abs() <= 8, "{}", h.quantile(0.5));
        assert!((h.quantile(0.99) as i64 - 990).abs() <= 16, "{}", h.quantile(0.99));
        assert_eq!(h.quantile(1.0), 1000);
        assert_eq!(h.max(), 1000);
    }
}
