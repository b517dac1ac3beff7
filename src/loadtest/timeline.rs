//! The run over time, for the plot: requests finished and their latencies in buckets of one
//! width from the run's start, each read as a rate over the time it really covers.

use hdrhistogram::Histogram;
use std::time::Duration;

/// The first buckets' width: fine enough to show the shape of a rush of a few seconds.
const WIDTH_FIRST: Duration = Duration::from_millis(250);

/// Buckets kept at most: past them neighbours are merged and the width doubles, so that a run of
/// hours keeps a bounded memory and a plot of readable points.
const BUCKETS_MAX: usize = 240;

/// A last bucket shorter than this share of the width is read together with the one before it:
/// a few milliseconds' requests divided by a few milliseconds swing wildly whatever the rate.
const SLIVER_SHARE: f64 = 0.25;

/// A bucket's latencies: two significant figures are plenty for a plot and keep each small.
const LATENCY_MICROS_MAX: u64 = 60_000_000;
const LATENCY_FIGURES: u8 = 2;

/// One bucket: the requests that finished in it and their latencies.
#[derive(Clone)]
pub struct Bucket {
    pub requests: u64,
    pub latency_micros: Histogram<u64>,
}

impl Bucket {
    fn empty() -> Self {
        Self {
            requests: 0,
            latency_micros: Histogram::new_with_bounds(1, LATENCY_MICROS_MAX, LATENCY_FIGURES)
                .expect("valid histogram bounds"),
        }
    }

    fn absorb(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.latency_micros
            .add(&other.latency_micros)
            .expect("buckets share their bounds");
    }
}

/// Requests by the time they finished, counted from the run's start.
#[derive(Clone)]
pub struct Timeline {
    width: Duration,
    buckets: Vec<Bucket>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            width: WIDTH_FIRST,
            buckets: Vec::new(),
        }
    }
}

/// One point of the plot: a bucket as a rate, with its latencies when it had requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The middle of the time the bucket covers, from the run's start.
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Timeline {
    pub fn width(&self) -> Duration {
        self.width
    }

    /// Records a request that finished `at` after the run's start, having taken `micros`.
    pub fn record(&mut self, at: Duration, micros: u64) {
        let mut index = self.index_of(at);
        while index >= BUCKETS_MAX {
            self.coarsen();
            index = self.index_of(at);
        }
        if self.buckets.len() <= index {
            self.buckets.resize_with(index + 1, Bucket::empty);
        }
        let bucket = &mut self.buckets[index];
        bucket.requests += 1;
        bucket
            .latency_micros
            .saturating_record(micros.clamp(1, LATENCY_MICROS_MAX));
    }

    fn index_of(&self, at: Duration) -> usize {
        (at.as_nanos() / self.width.as_nanos()) as usize
    }

    /// Merges each pair of neighbours into one bucket of twice the width.
    fn coarsen(&mut self) {
        self.buckets = self
            .buckets
            .chunks(2)
            .map(|pair| {
                let mut merged = pair[0].clone();
                if let Some(second) = pair.get(1) {
                    merged.absorb(second);
                }
                merged
            })
            .collect();
        self.width *= 2;
    }

    /// The buckets as points, over a run that lasted `span`: each bucket's requests divided by
    /// the time it covers, so that the last one, cut short by the run's end, reads as a rate too.
    pub fn points(&self, span: Duration) -> Vec<Point> {
        let width = self.width.as_secs_f64();
        let span = span
            .as_secs_f64()
            .max(self.buckets.len().saturating_sub(1) as f64 * width);
        let mut spans: Vec<(f64, f64, Bucket)> = (self.buckets.iter().enumerate())
            .map(|(index, bucket)| {
                let start = index as f64 * width;
                (start, (start + width).min(span), bucket.clone())
            })
            .collect();
        fold_a_last_sliver(&mut spans, width);
        spans
            .iter()
            .map(|(start, end, bucket)| point(*start, *end, bucket))
            .collect()
    }
}

fn fold_a_last_sliver(spans: &mut Vec<(f64, f64, Bucket)>, width: f64) {
    let sliver = spans.len() >= 2
        && spans
            .last()
            .is_some_and(|(start, end, _)| end - start < SLIVER_SHARE * width);
    if sliver {
        let (_, end, bucket) = spans.pop().expect("a last bucket");
        let before = spans.last_mut().expect("a bucket before it");
        before.1 = end;
        before.2.absorb(&bucket);
    }
}

fn point(start: f64, end: f64, bucket: &Bucket) -> Point {
    // A run too short to measure still reads as a rate rather than a division by zero.
    let seconds = (end - start).max(1e-6);
    let quantile = |q: f64| (bucket.requests > 0).then(|| bucket.latency_micros.value_at_quantile(q) as f64 / 1000.0);
    Point {
        seconds: start + seconds / 2.0,
        rps: bucket.requests as f64 / seconds,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests every `every` from 0 until `until`, each taking `micros`.
    fn steady(timeline: &mut Timeline, every: Duration, until: Duration, micros: u64) {
        let mut at = Duration::ZERO;
        while at < until {
            timeline.record(at, micros);
            at += every;
        }
    }

    fn rates(points: &[Point]) -> Vec<f64> {
        points.iter().map(|point| point.rps).collect()
    }

    #[test]
    fn a_partial_last_bucket_at_the_same_rate_reads_as_the_same_rate() {
        let mut timeline = Timeline::default();
        let span = Duration::from_millis(2_600);
        steady(&mut timeline, Duration::from_millis(10), span, 1_000);
        let points = timeline.points(span);
        // Ten full buckets and the last tenth of a second, 40% of a bucket.
        assert_eq!(points.len(), 11);
        for rps in rates(&points) {
            assert!((rps - 100.0).abs() < 1e-6, "{:?}", rates(&points));
        }
        let last = points.last().unwrap();
        assert!((last.seconds - 2.55).abs() < 1e-9, "{last:?}");
    }

    #[test]
    fn a_last_sliver_is_read_with_the_bucket_before_it() {
        let mut timeline = Timeline::default();
        steady(
            &mut timeline,
            Duration::from_millis(10),
            Duration::from_millis(2_500),
            1_000,
        );
        // One request in the last 20 ms alone would read as a fall to 50 a second.
        timeline.record(Duration::from_millis(2_515), 1_000);
        let points = timeline.points(Duration::from_millis(2_520));
        assert_eq!(points.len(), 10, "{points:?}");
        let last = points.last().unwrap();
        assert!((last.rps - 26.0 / 0.27).abs() < 1e-6, "{last:?}");
    }

    #[test]
    fn a_long_run_keeps_a_bounded_count_of_buckets_at_the_same_rate() {
        let mut timeline = Timeline::default();
        let span = Duration::from_secs(600);
        steady(&mut timeline, Duration::from_millis(10), span, 1_000);
        let points = timeline.points(span);
        assert!(points.len() <= BUCKETS_MAX, "{}", points.len());
        assert!(timeline.width() > WIDTH_FIRST);
        for rps in rates(&points) {
            assert!((rps - 100.0).abs() < 1e-6, "{rps}");
        }
        let requests: u64 = timeline.buckets.iter().map(|bucket| bucket.requests).sum();
        assert_eq!(requests, 60_000);
    }

    #[test]
    fn each_point_has_its_own_bucket_latencies_and_an_empty_one_none() {
        let mut timeline = Timeline::default();
        for _ in 0..99 {
            timeline.record(Duration::from_millis(100), 1_000);
            timeline.record(Duration::from_millis(600), 8_000);
        }
        timeline.record(Duration::from_millis(600), 30_000);
        timeline.record(Duration::from_millis(600), 30_000);
        let points = timeline.points(Duration::from_millis(750));
        assert_eq!(points.len(), 3);
        let near = |ms: Option<f64>, wanted: f64| ms.is_some_and(|ms| (ms - wanted).abs() <= wanted * 0.02);
        assert!(near(points[0].p50_ms, 1.0) && near(points[0].p99_ms, 1.0), "{points:?}");
        assert_eq!((points[1].rps, points[1].p50_ms, points[1].p99_ms), (0.0, None, None));
        assert!(
            near(points[2].p50_ms, 8.0) && near(points[2].p99_ms, 30.0),
            "{points:?}"
        );
    }
}
