//! Feature capacities: the values of the const generic `F` (features a head row, a stored
//! example and the workspace hold) that code sizing adaptation for a model known only at
//! run time instantiates, and the dispatch from a feature length to one of them.
//!
//! A device build names its `F` (the embedded model's feature length); the host, RAM
//! reports and checks pick the smallest bucket that holds the model's features. Results do
//! not depend on `F` beyond that: only the model's `feature_dim()` features are ever used.

/// Calls `$m!` with the bucket list, ascending: the one place it is written.
macro_rules! buckets {
    ($m:ident) => {
        $m!(16, 32, 48, 64, 96, 128, 256, 384, 512, 768, 1024)
    };
}

/// Feature capacities [`with_feature_capacity`] dispatches to, ascending.
pub const FEATURE_BUCKETS: [usize; 11] = {
    macro_rules! array {
        ($($f:literal),*) => {
            [$($f),*]
        };
    }
    buckets!(array)
};

/// A computation generic over the feature capacity `F` (run by [`with_feature_capacity`]).
pub trait CapacityFn<R> {
    /// Runs at capacity `F`.
    fn call<const F: usize>(self) -> R;
}

/// Runs `f` at the smallest of [`FEATURE_BUCKETS`] that holds `dim` features; `None` when
/// `dim` exceeds every bucket.
pub fn with_feature_capacity<R>(dim: usize, f: impl CapacityFn<R>) -> Option<R> {
    macro_rules! dispatch {
        ($($f:literal),*) => {
            $(
                if dim <= $f {
                    return Some(f.call::<$f>());
                }
            )*
        };
    }
    buckets!(dispatch);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Capacity;

    impl CapacityFn<usize> for Capacity {
        fn call<const F: usize>(self) -> usize {
            F
        }
    }

    #[test]
    fn dispatch_picks_the_smallest_bucket_that_holds_the_features() {
        assert!(FEATURE_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(with_feature_capacity(0, Capacity), Some(FEATURE_BUCKETS[0]));
        for (i, &b) in FEATURE_BUCKETS.iter().enumerate() {
            assert_eq!(with_feature_capacity(b, Capacity), Some(b));
            let next = FEATURE_BUCKETS.get(i + 1).copied();
            assert_eq!(with_feature_capacity(b + 1, Capacity), next);
        }
    }
}
