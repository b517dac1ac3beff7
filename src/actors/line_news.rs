//! What the queue actor tells the event streams that follow its tokens, so that no stream asks it
//! anything while its fan waits: the latest view of the line, read by each stream on its own
//! clock, and a wake-up for a followed token that was admitted or ended.

use crate::domain::line_view::LineView;
use dashmap::DashMap;
use parking_lot::RwLock;
use std::sync::Arc;
use tokio::sync::Notify;

/// Written by the queue actor only; read by any number of streams.
pub struct LineNews {
    view: RwLock<Arc<LineView>>,
    /// Each followed token's streams, by sequence number, each with its own wake-up so that one
    /// told while it is busy writing finds the news waiting.
    followers: DashMap<u64, Vec<Arc<Notify>>>,
}

impl LineNews {
    pub fn new(view: LineView) -> Self {
        Self {
            view: RwLock::new(Arc::new(view)),
            followers: DashMap::new(),
        }
    }

    /// The line as last published.
    pub fn view(&self) -> Arc<LineView> {
        self.view.read().clone()
    }

    /// Starts following the token numbered `seq`; the returned follow ends when dropped.
    pub fn follow(self: &Arc<Self>, seq: u64) -> Following {
        let news = Arc::new(Notify::new());
        self.followers.entry(seq).or_default().push(news.clone());
        Following {
            line: self.clone(),
            seq,
            news,
        }
    }

    /// Whether any stream follows the token numbered `seq`.
    pub fn is_followed(&self, seq: u64) -> bool {
        self.followers.contains_key(&seq)
    }

    /// Open follows, over every token.
    pub fn follows(&self) -> usize {
        self.followers.iter().map(|entry| entry.value().len()).sum()
    }

    pub(super) fn publish(&self, view: LineView) {
        *self.view.write() = Arc::new(view);
    }

    /// Wakes the streams of the token numbered `seq`: it was admitted or it ended.
    pub(super) fn tell(&self, seq: u64) {
        if let Some(streams) = self.followers.get(&seq) {
            streams.iter().for_each(|news| news.notify_one());
        }
    }

    fn unfollow(&self, seq: u64, news: &Arc<Notify>) {
        self.followers.remove_if_mut(&seq, |_, streams| {
            streams.retain(|each| !Arc::ptr_eq(each, news));
            streams.is_empty()
        });
    }
}

/// One stream's follow of one token.
pub struct Following {
    line: Arc<LineNews>,
    seq: u64,
    news: Arc<Notify>,
}

impl Following {
    /// Resolves once the token was admitted or ended since the last time it resolved.
    pub async fn told(&self) {
        self.news.notified().await;
    }

    /// The line as last published.
    pub fn view(&self) -> Arc<LineView> {
        self.line.view()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.line.unfollow(self.seq, &self.news);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follow_is_told_of_its_own_token_even_while_busy_and_ends_when_dropped() {
        let news = Arc::new(LineNews::new(LineView::empty(0, 1.0)));
        let (first, second, other) = (news.follow(7), news.follow(7), news.follow(8));
        assert_eq!(news.follows(), 3);
        // Told before anyone awaits: the news waits for each of the token's streams.
        news.tell(7);
        tokio::time::timeout(std::time::Duration::from_secs(1), first.told())
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), second.told())
            .await
            .unwrap();
        let untold = tokio::time::timeout(std::time::Duration::from_millis(20), other.told()).await;
        assert!(untold.is_err(), "another token's stream is not woken");
        drop((first, second));
        assert!(!news.is_followed(7));
        assert!(news.is_followed(8));
        drop(other);
        assert_eq!(news.follows(), 0);
    }
}
