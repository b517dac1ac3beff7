//! The run's report: its settings, a table per endpoint, the JSON document of `--json`, the SVG
//! of `--plot`.

use super::client::Recorded;
use super::journeys::JourneyFigures;
use super::options::Options;
use super::refusals::{self, Expected};
use super::settings::Settings;
use super::timeline::Point;
use super::verdict::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointReport {
    pub count: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Unsuccessful calls the scenario expects, by code (a seat taken, a flood's 429).
    pub refusals: BTreeMap<String, u64>,
    /// Every other unsuccessful call, by code: unexpected 4xx, 5xx, and UNREACHABLE for no answer.
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct Invariants {
    pub ok: bool,
    pub violations: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenario: String,
    pub settings: Settings,
    pub duration_seconds: f64,
    pub requests: u64,
    pub throughput_rps: f64,
    /// The endpoints' refusals and errors, summed.
    pub refusals: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub endpoints: BTreeMap<String, EndpointReport>,
    pub invariants: Invariants,
    pub ceiling_ratio: Option<f64>,
    /// A crowd's own figures: how long its fans spent in line and getting a ticket.
    pub journeys: Option<JourneyFigures>,
    /// An attack scenario's verdict.
    pub verdict: Option<Verdict>,
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Report {
    pub fn new(
        options: &Options,
        seconds: f64,
        recorded: &Recorded,
        violations: Vec<String>,
        ceiling_rps: Option<f64>,
    ) -> Self {
        let expected = Expected::of(options);
        let endpoints: BTreeMap<String, EndpointReport> = recorded
            .endpoints
            .iter()
            .map(|(name, figures)| {
                let h = &figures.latency_micros;
                let split = refusals::split(&figures.unsuccessful, &expected);
                let report = EndpointReport {
                    count: h.len(),
                    rps: h.len() as f64 / seconds,
                    p50_ms: millis(h.value_at_quantile(0.5)),
                    p90_ms: millis(h.value_at_quantile(0.9)),
                    p99_ms: millis(h.value_at_quantile(0.99)),
                    p999_ms: millis(h.value_at_quantile(0.999)),
                    max_ms: millis(h.max()),
                    refusals: split.refusals,
                    errors: split.errors,
                };
                (name.to_string(), report)
            })
            .collect();
        let requests = endpoints.values().map(|e| e.count).sum::<u64>();
        let throughput_rps = requests as f64 / seconds;
        let split = refusals::split(&recorded.unsuccessful, &expected);
        let settings = Settings::of(options);
        Self {
            scenario: settings.scenario.clone(),
            settings,
            duration_seconds: seconds,
            requests,
            throughput_rps,
            refusals: split.refusals,
            errors: split.errors,
            endpoints,
            invariants: Invariants {
                ok: violations.is_empty(),
                violations,
            },
            ceiling_ratio: ceiling_rps.filter(|rps| *rps > 0.0).map(|rps| throughput_rps / rps),
            journeys: None,
            verdict: None,
        }
    }

    /// The table printed at the end of a run, under its settings.
    pub fn table(&self) -> String {
        let mut out = format!("settings: {}\n", self.settings.line());
        out += &format!(
            "{:<40} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}  {}\n",
            "endpoint", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "refusals | errors"
        );
        for (name, e) in &self.endpoints {
            let mut unsuccessful = counts(&e.refusals);
            if !e.errors.is_empty() {
                unsuccessful += &format!(" | {}", counts(&e.errors));
            }
            out += &format!(
                "{name:<40} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}\n",
                e.count,
                e.rps,
                e.p50_ms,
                e.p90_ms,
                e.p99_ms,
                e.p999_ms,
                e.max_ms,
                unsuccessful.trim_start()
            );
        }
        out += &format!(
            "\n{} requests in {:.1} s: {:.1} req/s",
            self.requests, self.duration_seconds, self.throughput_rps
        );
        if let Some(ratio) = self.ceiling_ratio {
            out += &format!(" ({ratio:.2} of the /healthz ceiling)");
        }
        if let Some(journeys) = &self.journeys {
            out += "\n";
            out += journeys.lines().trim_end();
        }
        out += &format!("\nrefusals the scenario expects: {}", counts_or_none(&self.refusals));
        out += &format!("\nerrors: {}", counts_or_none(&self.errors));
        out += if self.invariants.ok {
            "\ninvariants: all hold\n"
        } else {
            "\ninvariants: VIOLATED\n"
        };
        for violation in &self.invariants.violations {
            out += &format!("  - {violation}\n");
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}

/// `SEAT_UNAVAILABLE=248 RATE_LIMITED=3`.
fn counts(by_code: &BTreeMap<String, u64>) -> String {
    let counts: Vec<String> = by_code.iter().map(|(code, count)| format!("{code}={count}")).collect();
    counts.join(" ")
}

fn counts_or_none(by_code: &BTreeMap<String, u64>) -> String {
    match by_code.is_empty() {
        true => "none".into(),
        false => counts(by_code),
    }
}

/// Throughput, and p50 and p99 latency, over time: two panels of points joined by lines, under
/// `caption`. Each point is a bucket of the timeline read as a rate, so a last bucket cut short
/// by the run's end does not read as a fall.
pub fn write_plot(recorded: &Recorded, caption: &str, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let points = recorded.timeline.points(recorded.span);
    let seconds = recorded.span.as_secs_f64().max(1.0);
    let width_ms = recorded.timeline.width().as_millis();
    let throughput: Vec<(f64, f64)> = points.iter().map(|p| (p.seconds, p.rps)).collect();
    let latency = |quantile: fn(&Point) -> Option<f64>| -> Vec<(f64, f64)> {
        points.iter().filter_map(|p| Some((p.seconds, quantile(p)?))).collect()
    };
    let root = SVGBackend::new(path, (900, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let body = root.titled(caption, ("sans-serif", 16)).map_err(|e| e.to_string())?;
    let (top, bottom) = body.split_vertically(300);
    let rate_caption = format!("requests per second (a point per {width_ms} ms)");
    let rate = [Series::new("requests/s", throughput, BLUE)];
    plot_panel(&top, &rate_caption, seconds, &rate).map_err(|e| e.to_string())?;
    let latencies = [
        Series::new("p50", latency(|p| p.p50_ms), GREEN),
        Series::new("p99", latency(|p| p.p99_ms), RED),
    ];
    plot_panel(&bottom, "latency (ms)", seconds, &latencies).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

type Area<'a> = plotters::drawing::DrawingArea<plotters::prelude::SVGBackend<'a>, plotters::coord::Shift>;
type PlotError<'a> = plotters::drawing::DrawingAreaErrorKind<
    <plotters::prelude::SVGBackend<'a> as plotters::prelude::DrawingBackend>::ErrorType,
>;

/// A line of the plot, named in its panel's legend.
struct Series {
    label: &'static str,
    points: Vec<(f64, f64)>,
    colour: plotters::style::RGBColor,
}

impl Series {
    fn new(label: &'static str, points: Vec<(f64, f64)>, colour: plotters::style::RGBColor) -> Self {
        Self { label, points, colour }
    }
}

/// One panel: each series a line through its points, a circle on each, and a legend.
fn plot_panel<'a>(area: &Area<'a>, caption: &str, seconds: f64, series: &[Series]) -> Result<(), PlotError<'a>> {
    use plotters::prelude::*;
    let peak = (series.iter())
        .flat_map(|line| line.points.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds, 0.0..peak)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    for line in series {
        let colour = line.colour;
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), colour).point_size(3))?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn report(line: &str) -> Report {
        report_of(line, &Recorded::default())
    }

    fn report_of(line: &str, recorded: &Recorded) -> Report {
        let options = Options::parse_from(["loadtest"].into_iter().chain(line.split_whitespace()));
        Report::new(&options, 2.0, recorded, Vec::new(), None)
    }

    #[test]
    fn the_settings_head_the_text_and_are_in_the_json() {
        let args = "--embedded --fsync never --users 300 --concurrency 64 --seats 20 --seed 7";
        let report = report(args);
        let table = report.table();
        let line = "settings: rush against embedded (fsync never, active-max 100): 300 users, 64 at a time, 2 dates of 20 seats, seed 7\n";
        assert!(table.starts_with(line), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        let settings = &json["settings"];
        assert_eq!(
            (&settings["scenario"], &settings["target"], &settings["fsync"]),
            (&"rush".into(), &"embedded".into(), &"never".into())
        );
        assert_eq!(
            (&settings["users"], &settings["concurrency"]),
            (&300.into(), &64.into())
        );
        assert_eq!(
            (&settings["seats"], &settings["dates"], &settings["seed"]),
            (&20.into(), &2.into(), &7.into())
        );
        assert_eq!(settings["duration"], serde_json::Value::Null, "a rush is not timed");
        assert_eq!(settings["attack"], serde_json::Value::Null);
    }

    #[test]
    fn refusals_and_errors_are_apart_in_the_text_and_the_json() {
        let unsuccessful: BTreeMap<String, u64> = [("SEAT_UNAVAILABLE", 248), ("UNREACHABLE", 2)]
            .map(|(code, count)| (code.to_string(), count))
            .into();
        let mut recorded = Recorded::default();
        let figures = crate::loadtest::client::EndpointFigures {
            latency_micros: hdrhistogram::Histogram::new(3).unwrap(),
            unsuccessful: unsuccessful.clone(),
        };
        recorded.endpoints.insert("POST /reservations", figures);
        recorded.unsuccessful = unsuccessful;
        let report = report_of("--embedded", &recorded);
        let table = report.table();
        assert!(
            table.contains("\nrefusals the scenario expects: SEAT_UNAVAILABLE=248\nerrors: UNREACHABLE=2\n"),
            "{table}"
        );
        assert!(table.contains("  SEAT_UNAVAILABLE=248 | UNREACHABLE=2\n"), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        let holds = &json["endpoints"]["POST /reservations"];
        for figures in [&json, holds] {
            assert_eq!(
                figures["refusals"],
                serde_json::json!({ "SEAT_UNAVAILABLE": 248 }),
                "{json:#}"
            );
            assert_eq!(figures["errors"], serde_json::json!({ "UNREACHABLE": 2 }), "{json:#}");
        }
    }

    #[test]
    fn a_crowd_s_journey_figures_are_in_the_text_and_the_json() {
        let mut report = report("--embedded");
        assert!(!report.table().contains("time in line"));
        report.journeys = Some(JourneyFigures::of(&[]));
        let table = report.table();
        assert!(table.contains("\ntime in line (token to ACTIVE): none\n"), "{table}");
        assert!(table.contains("\ntime to ticket (token to payment): none\n"), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        for figure in ["timeInLine", "timeToHold", "timeToTicket"] {
            assert_eq!(json["journeys"][figure]["fans"], 0, "{json:#}");
        }
    }
}
