//! The generator's results: a Markdown table for people, JSON for scripts.

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    /// Name -> value, in the order they were added.
    pub rows: Vec<(String, String)>,
}

impl Report {
    pub fn new(scenario: &str, target: &str) -> Self {
        Report {
            scenario: scenario.into(),
            target: target.into(),
            rows: Vec::new(),
        }
    }

    pub fn add(&mut self, name: &str, value: impl ToString) {
        self.rows.push((name.to_string(), value.to_string()));
    }

    /// A count, and beside it the same per second over `elapsed` seconds (`<name> /s`).
    pub fn count_and_rate(&mut self, name: &str, count: u64, elapsed: f64) {
        self.add(name, count);
        self.add(
            &format!("{name} /s"),
            format!("{:.0}", count as f64 / elapsed),
        );
    }

    /// p50, p99, p99.9 and max of latencies recorded in microseconds, as milliseconds.
    pub fn latencies(&mut self, prefix: &str, h: &Histogram<u64>) {
        for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
            self.add(
                &format!("{prefix} {name} ms"),
                format!("{:.2}", h.value_at_quantile(q) as f64 / 1000.0),
            );
        }
        self.add(
            &format!("{prefix} max ms"),
            format!("{:.2}", h.max() as f64 / 1000.0),
        );
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "\n### {} ({})\n\n| measure | value |\n|---|---:|\n",
            self.scenario, self.target
        );
        for (name, value) in &self.rows {
            out.push_str(&format!("| {name} | {value} |\n"));
        }
        out
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is valid")
}
