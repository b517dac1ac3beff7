//! Snapshots of the running service: the journal moves to a new segment, every part of the state
//! is captured by its owner between two of its messages, and the whole is written to disk off
//! the actors' threads. Requests keep flowing throughout; each actor pauses only for the copy of
//! its own state.

use super::Services;
use crate::error::{Error, Result};
use crate::persistence::Image;
use futures_util::future::try_join_all;
use std::time::{Duration, Instant};

/// What one snapshot took.
#[derive(Debug, Clone)]
pub struct SnapshotReport {
    pub index: u64,
    pub bytes: u64,
    /// Capturing every part, actors included.
    pub capture: Duration,
    /// Storing: the entries the parts hold made durable, then encoded, written and synced, off
    /// the actors' threads.
    pub write: Duration,
}

impl Services {
    /// Takes a snapshot and deletes what no kept snapshot needs any more.
    pub async fn snapshot(&self) -> Result<SnapshotReport> {
        let _one_at_a_time = self.snapshotting.lock().await;
        let mark = self.log.begin_snapshot().await?;
        let started = Instant::now();
        let image = self.capture().await?;
        let capture = started.elapsed();
        let bytes = self.log.store_snapshot(mark, image).await?;
        let report = SnapshotReport {
            index: mark.0,
            bytes,
            capture,
            write: started.elapsed() - capture,
        };
        tracing::info!(?report, "snapshot written");
        Ok(report)
    }

    /// Every part of the state. The catalog's part comes first: a date created after it is
    /// created again by replaying its concert.
    async fn capture(&self) -> Result<Image> {
        let (concerts, date_handles) = self.catalog.image();
        // A date served apart from the engine keeps its own snapshots.
        let dates = async {
            let images = try_join_all(
                (date_handles.iter()).map(|(key, handle)| async move { Ok::<_, Error>((*key, handle.image().await?)) }),
            );
            let images = images.await?;
            Ok::<_, Error>(
                (images.into_iter())
                    .filter_map(|(key, image)| Some((key, image?)))
                    .collect(),
            )
        };
        let (dates, room, wallet, (sales, sale_rooms)) =
            futures_util::try_join!(dates, self.queue.image(), self.wallet.image(), self.sales.image())?;
        Ok(Image {
            users: self.users.image(),
            concerts,
            dates,
            room,
            wallet,
            answers: self.idempotency.image(),
            sales,
            sale_rooms,
        })
    }

    /// Takes a snapshot every `--snapshot-interval` for as long as the service runs.
    pub async fn snapshot_periodically(&self) {
        let mut interval = actix_web::rt::time::interval(self.config.snapshot_interval);
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(error) = self.snapshot().await {
                tracing::error!(%error, "a snapshot failed; the journal still holds everything");
            }
        }
    }
}
