//! What the queue actor tells the event streams that follow its tokens, so that no stream asks it
//! anything while its fan waits: the latest view of the line, with a wake-up for the streams
//! waiting on a new one, and a wake-up for a followed token that was admitted or ended. A stream
//! of a line that does not move is never woken but to keep its connection alive.

use crate::domain::line_view::LineView;
use dashmap::DashMap;
use parking_lot::RwLock;
use std::sync::Arc;
use tokio::sync::Notify;

/// Written by the queue actor only; read by any number of streams.
pub struct LineNews {
    /// The view, and the room's entry it shows the line as of: a reader that must show only
    /// what is durable uses it once that entry is.
    view: RwLock<(Arc<LineView>, u64)>,
    /// Each followed token's streams, by sequence number, each with its own wake-up so that one
    /// told while it is busy writing finds the news waiting.
    followers: DashMap<u64, Vec<Arc<Notify>>>,
    /// Counts the views published; a stream waits on it for the next.
    published: tokio::sync::watch::Sender<u64>,
}

impl LineNews {
    /// The news of a room recovered (durable) through its entry numbered `through`.
    pub fn new(view: LineView, through: u64) -> Self {
        Self {
            view: RwLock::new((Arc::new(view), through)),
            followers: DashMap::new(),
            published: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The line as last published.
    pub fn view(&self) -> Arc<LineView> {
        self.view.read().0.clone()
    }

    /// The line as last published, if it shows no entry past `durable_through`.
    pub fn view_durable_by(&self, durable_through: u64) -> Option<Arc<LineView>> {
        let published = self.view.read();
        (published.1 <= durable_through).then(|| published.0.clone())
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

    /// Publishes a new view and wakes the streams waiting for one (each waits again only after
    /// it has sent, at most once a second, so a fast-moving line wakes each at most that often).
    pub(super) fn publish(&self, view: LineView, through: u64) {
        *self.view.write() = (Arc::new(view), through);
        self.published.send_modify(|views| *views += 1);
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

/// The views published, counted: `changed()` resolves once one was published since it last
/// resolved (or since it was made).
pub type NewViews = tokio::sync::watch::Receiver<u64>;

impl Following {
    /// Wakes for each view published from now on.
    pub fn new_views(&self) -> NewViews {
        self.line.published.subscribe()
    }

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
        let news = Arc::new(LineNews::new(LineView::empty(0, 1.0), 0));
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

    #[tokio::test]
    async fn a_follow_wakes_for_a_new_view_only() {
        let news = Arc::new(LineNews::new(LineView::empty(0, 1.0), 0));
        let following = news.follow(3);
        let mut views = following.new_views();
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(20), views.changed()).await;
        assert!(quiet.is_err(), "no view published since the follow began");
        news.publish(LineView::empty(1, 1.0), 4);
        assert!(news.view_durable_by(3).is_none(), "shows entry 4, durable through 3");
        assert_eq!(news.view_durable_by(4).unwrap().front, 1);
        tokio::time::timeout(std::time::Duration::from_secs(1), views.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(following.view().front, 1);
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(20), views.changed()).await;
        assert!(quiet.is_err(), "that view was seen");
    }
}
