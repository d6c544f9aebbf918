//! The random choices of the shop workload: a seeded PRNG (SplitMix64) and the
//! Zipf sampler of shop popularity. The same seed gives the same run.

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast generator that passes
/// BigCrush; plenty for choosing shops and buyers. The same seed gives the same
/// sequence.
#[derive(Debug, Clone)]
pub struct Prng {
    /// SplitMix64's whole state: a counter advanced by a fixed odd step, whose
    /// value is mixed into each output.
    state: u64,
}

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) for n > 0 (multiply-shift; the bias is below 2^-32 for
    /// any n this tool uses).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p` (clamped to [0, 1]).
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// Zipf over ranks 1..=n: rank k is drawn with probability ∝ 1/k^s (s = 0 is
/// uniform). Sampled by binary search in the precomputed cumulative
/// distribution.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// `cdf[i]`: the probability of drawing index `i` or below; the last is
    /// exactly 1, so that a binary search always finds a rank.
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        assert!(n > 0, "Zipf over no ranks");
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += (k as f64).powf(-s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        // Rounding must never leave a draw past the last rank.
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Zipf { cdf }
    }

    /// A 0-based index: 0 is rank 1, the most popular.
    pub fn sample(&self, rng: &mut Prng) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// The probability of the 0-based index `i`.
    #[cfg(test)]
    pub fn probability(&self, i: usize) -> f64 {
        let below = if i == 0 { 0.0 } else { self.cdf[i - 1] };
        self.cdf[i] - below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prng_is_deterministic_for_a_seed() {
        let a: Vec<u64> = {
            let mut rng = Prng::new(42);
            (0..100).map(|_| rng.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut rng = Prng::new(42);
            (0..100).map(|_| rng.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut rng = Prng::new(43);
            (0..100).map(|_| rng.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        // SplitMix64's published first output for seed 0.
        assert_eq!(Prng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn the_prng_draws_stay_in_range_and_look_uniform() {
        let mut rng = Prng::new(7);
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
            let b = rng.below(10);
            assert!(b < 10);
            buckets[b as usize] += 1;
        }
        for count in buckets {
            assert!((9_000..11_000).contains(&count), "{buckets:?}");
        }
    }

    #[test]
    fn zipf_picks_the_first_shop_far_more_often_than_the_last() {
        let zipf = Zipf::new(100, 1.1);
        let mut rng = Prng::new(1);
        let draws = 200_000;
        let mut counts = vec![0u64; 100];
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        // 100^1.1 ≈ 158: shop 1 is drawn about 158 times as often as shop 100.
        assert!(
            counts[0] > 50 * counts[99].max(1),
            "{} vs {}",
            counts[0],
            counts[99]
        );
        // The frequencies follow 1/k^s: for the popular ranks, within 5%.
        for k in [1usize, 2, 3, 5, 10] {
            let expected = zipf.probability(k - 1) * draws as f64;
            let got = counts[k - 1] as f64;
            assert!(
                (got - expected).abs() < 0.05 * expected,
                "rank {k}: {got} drawn, {expected} expected"
            );
        }
        // And their ratios are k^s.
        let ratio = counts[0] as f64 / counts[9] as f64;
        let expected = 10f64.powf(1.1);
        assert!(
            (ratio / expected - 1.0).abs() < 0.1,
            "{ratio} vs {expected}"
        );
    }

    #[test]
    fn zipf_probabilities_are_proportional_to_one_over_k_to_the_s() {
        let zipf = Zipf::new(50, 1.3);
        let total: f64 = (0..50).map(|i| zipf.probability(i)).sum();
        assert!((total - 1.0).abs() < 1e-9);
        let ratio = zipf.probability(0) / zipf.probability(3);
        assert!((ratio - 4f64.powf(1.3)).abs() < 1e-9);
        // s = 0 is uniform.
        let uniform = Zipf::new(4, 0.0);
        for i in 0..4 {
            assert!((uniform.probability(i) - 0.25).abs() < 1e-12);
        }
        // One shop: always it.
        let mut rng = Prng::new(3);
        assert_eq!(Zipf::new(1, 1.1).sample(&mut rng), 0);
    }
}
