//! A fixed set of read/write locks that names hash onto, so the reference server can make one key's (or one
//! upload's) reads and writes atomic with respect to each other without a lock per name ever seen: memory stays
//! the same however many objects a run writes.
//!
//! s3s-fs reads an object's size, ETag and metadata from three files, one after another, and a write replaces them
//! one after another too; a HEAD racing a PUT could answer the new ETag with the old size. Holding a stripe for
//! reading around every read and for writing around every write makes each answer describe one version.

use std::hash::{Hash, Hasher};

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Enough stripes that unrelated keys rarely share one at sfko's concurrency (≤ 64 in flight).
const STRIPES: usize = 1024;

/// Read/write locks by name hash.
pub struct Stripes {
    locks: Vec<RwLock<()>>,
}

/// What [`Stripes::write_reading`] holds: the written name's stripe, and the read one's when it is another stripe.
pub struct WriteReading<'a> {
    _write: RwLockWriteGuard<'a, ()>,
    _read: Option<RwLockReadGuard<'a, ()>>,
}

impl Default for Stripes {
    fn default() -> Self {
        Stripes { locks: (0..STRIPES).map(|_| RwLock::new(())).collect() }
    }
}

impl Stripes {
    fn index(bucket: &str, name: &str) -> usize {
        // SipHash with fixed keys: the same name always lands on the same stripe, in every process.
        let mut hasher = std::hash::DefaultHasher::new();
        (bucket, name).hash(&mut hasher);
        (hasher.finish() % STRIPES as u64) as usize
    }

    /// Shared hold on `bucket/name`'s stripe (reads of one name go on side by side).
    pub async fn read(&self, bucket: &str, name: &str) -> RwLockReadGuard<'_, ()> {
        self.locks[Self::index(bucket, name)].read().await
    }

    /// Exclusive hold on `bucket/name`'s stripe.
    pub async fn write(&self, bucket: &str, name: &str) -> RwLockWriteGuard<'_, ()> {
        self.locks[Self::index(bucket, name)].write().await
    }

    /// Exclusive holds on the stripes of every one of `names` (a batch delete), taken in stripe order like
    /// [`Stripes::write_reading`]'s, so no two holders wait on each other.
    pub async fn write_all(&self, bucket: &str, names: &[String]) -> Vec<RwLockWriteGuard<'_, ()>> {
        let stripes: std::collections::BTreeSet<usize> = names.iter().map(|n| Self::index(bucket, n)).collect();
        let mut held = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            held.push(self.locks[stripe].write().await);
        }
        held
    }

    /// Exclusive hold on `write`'s stripe and a shared one on `read`'s (a copy: its source must not change under
    /// it). Taken in stripe order, so two copies in opposite directions cannot deadlock.
    pub async fn write_reading(&self, write: (&str, &str), read: (&str, &str)) -> WriteReading<'_> {
        let (w, r) = (Self::index(write.0, write.1), Self::index(read.0, read.1));
        if w == r {
            return WriteReading { _write: self.locks[w].write().await, _read: None };
        }
        if r < w {
            let read = self.locks[r].read().await;
            WriteReading { _write: self.locks[w].write().await, _read: Some(read) }
        } else {
            let write = self.locks[w].write().await;
            WriteReading { _write: write, _read: Some(self.locks[r].read().await) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_in_opposite_directions_do_not_deadlock() {
        let stripes = std::sync::Arc::new(Stripes::default());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let stripes = stripes.clone();
            tasks.push(tokio::spawn(async move {
                let (a, b) = (format!("k{}", i % 7), format!("k{}", (i + 3) % 7));
                let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let _held = stripes.write_reading(("b", to), ("b", from)).await;
                tokio::task::yield_now().await;
            }));
        }
        for task in tasks {
            assert!(task.await.is_ok());
        }
    }

    #[tokio::test]
    async fn a_name_always_lands_on_the_same_stripe() {
        assert_eq!(Stripes::index("bucket", "key"), Stripes::index("bucket", "key"));
        // The bucket is part of the name: ("ab", "c") and ("a", "bc") are different objects.
        let spread: std::collections::BTreeSet<usize> = (0..64).map(|i| Stripes::index("b", &i.to_string())).collect();
        assert!(spread.len() > 32, "names spread over the stripes: {spread:?}");
    }
}
