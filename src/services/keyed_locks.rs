//! Async locks by key, made on first use and dropped when nobody holds or waits for them, so
//! work for one key runs one at a time while other keys go on in parallel.

use dashmap::DashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

pub struct KeyedLocks<K: Hash + Eq> {
    locks: DashMap<K, Arc<tokio::sync::Mutex<()>>>,
}

impl<K: Hash + Eq> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self { locks: DashMap::new() }
    }
}

impl<K: Hash + Eq + Clone> KeyedLocks<K> {
    /// Runs `work` once every earlier `work` for `key` has finished.
    pub async fn run<T>(&self, key: &K, work: impl Future<Output = T>) -> T {
        // Declared first, dropped last: after the lock is released, also when the caller gives
        // up while waiting.
        let _tidy = Tidy {
            locks: &self.locks,
            key,
        };
        let lock = self.locks.entry(key.clone()).or_default().clone();
        let _guard = lock.lock_owned().await;
        work.await
    }

    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }
}

/// Drops a key's lock from the map once nobody holds or waits for it.
struct Tidy<'a, K: Hash + Eq> {
    locks: &'a DashMap<K, Arc<tokio::sync::Mutex<()>>>,
    key: &'a K,
}

impl<K: Hash + Eq> Drop for Tidy<'_, K> {
    fn drop(&mut self) {
        // The map holds the last reference unless someone else is waiting: then it stays.
        self.locks.remove_if(self.key, |_, lock| Arc::strong_count(lock) == 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn work_for_one_key_never_overlaps_and_the_lock_is_dropped_after() {
        let locks = Arc::new(KeyedLocks::<u8>::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (locks, inside, overlaps) = (locks.clone(), inside.clone(), overlaps.clone());
                tokio::spawn(async move {
                    locks
                        .run(&7, async {
                            if inside.fetch_add(1, Ordering::SeqCst) > 0 {
                                overlaps.fetch_add(1, Ordering::SeqCst);
                            }
                            tokio::task::yield_now().await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(overlaps.load(Ordering::SeqCst), 0);
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_no_lock_behind() {
        let locks = KeyedLocks::<u8>::default();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let mut holder = Box::pin(locks.run(&1, async move { released.await.unwrap() }));
        let mut waiter = Box::pin(locks.run(&1, async {}));
        assert!(
            futures_util::poll!(holder.as_mut()).is_pending(),
            "the holder takes the lock"
        );
        assert!(futures_util::poll!(waiter.as_mut()).is_pending(), "the waiter waits");
        release.send(()).unwrap();
        holder.await;
        // The waiter gives up before it ever runs.
        drop(waiter);
        assert!(locks.is_empty());

        let mut abandoned = Box::pin(locks.run(&2, std::future::pending::<()>()));
        assert!(futures_util::poll!(abandoned.as_mut()).is_pending());
        drop(abandoned);
        assert!(locks.is_empty());
    }
}
