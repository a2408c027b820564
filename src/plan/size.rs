//! Drawing object sizes from a `{min, max}` range.

use crate::seed::Stream;

/// A size in `min..=max`: one draw in ten is exactly `min` or `max` (edges find bugs), the rest are log-uniform so
/// small and large sizes are both common even when the range spans orders of magnitude.
pub fn draw(stream: &mut Stream, min: u64, max: u64) -> u64 {
    if max <= min {
        return min;
    }
    match stream.below(20) {
        0 => return min,
        1 => return max,
        _ => {}
    }
    let lo_bits = 64 - min.leading_zeros() as u64;
    let hi_bits = 64 - max.leading_zeros() as u64;
    let bits = stream.between(lo_bits, hi_bits);
    let lo = if bits == 0 { 0 } else { 1u64 << (bits - 1) };
    let hi = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    stream.between(lo.max(min), hi.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    #[test]
    fn sizes_stay_in_range_and_hit_edges() {
        let mut stream = Seed(3).stream("size", &[]);
        let draws: Vec<u64> = (0..2000).map(|_| draw(&mut stream, 10, 2 << 20)).collect();
        assert!(draws.iter().all(|s| (10..=2 << 20).contains(s)));
        assert!(draws.contains(&10) && draws.contains(&(2 << 20)));
        assert!(draws.iter().filter(|s| **s < 4096).count() > 100, "small sizes are common");
    }
}
