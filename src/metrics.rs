//! In-process measurements the store does not keep (durations), rendered in the
//! Prometheus text format (exposition format 0.0.4) for `/metrics`. Counters that must
//! survive a restart (fetches, runs, alerts) live in the store instead.
//!
//! Hand-written: a few histograms do not justify the `prometheus` crate and its
//! protobuf/lazy-static tree. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds (seconds) of the duration buckets: an assessment takes ~0.1 s in release,
/// a run with a slow feed up to the HTTP timeout (tens of seconds).
pub const BUCKETS_S: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Cumulative counts per bucket of [`BUCKETS_S`].
    counts: [u64; BUCKETS_S.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS_S.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS_S.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    runs: BTreeMap<String, Histogram>,
    assessments: Histogram,
    probabilistic: Histogram,
    probabilistic_failures: u64,
}

/// Durations since the process started.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Escapes a Prometheus label value (backslash, quote, newline).
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One feed cycle (fetch, store, process) took `seconds`.
    pub fn observe_run(&self, feed: &str, seconds: f64) {
        self.lock()
            .runs
            .entry(feed.to_string())
            .or_default()
            .observe(seconds);
    }

    /// One assessment (hazard, exposure, levels) took `seconds`.
    pub fn observe_assessment(&self, seconds: f64) {
        self.lock().assessments.observe(seconds);
    }

    /// One probabilistic assessment (issue 12) took `seconds`; `ok` false: it failed.
    pub fn observe_probabilistic(&self, seconds: f64, ok: bool) {
        let mut inner = self.lock();
        inner.probabilistic.observe(seconds);
        if !ok {
            inner.probabilistic_failures += 1;
        }
    }

    /// The histograms with their HELP and TYPE lines.
    pub fn render(&self, out: &mut String) {
        let inner = self.lock();
        out.push_str(
            "# HELP aviso_run_duration_seconds Duration of one feed cycle: fetch, store, assess, publish.\n\
             # TYPE aviso_run_duration_seconds histogram\n",
        );
        for (feed, h) in &inner.runs {
            h.render(
                out,
                "aviso_run_duration_seconds",
                &format!("feed=\"{}\"", label(feed)),
            );
        }
        out.push_str(
            "# HELP aviso_assessment_duration_seconds Duration of one assessment (hazard, exposure, levels).\n\
             # TYPE aviso_assessment_duration_seconds histogram\n",
        );
        inner
            .assessments
            .render(out, "aviso_assessment_duration_seconds", "");
        out.push_str(
            "# HELP aviso_probabilistic_duration_seconds Duration of one probabilistic assessment of a published cyclone version.\n\
             # TYPE aviso_probabilistic_duration_seconds histogram\n",
        );
        inner
            .probabilistic
            .render(out, "aviso_probabilistic_duration_seconds", "");
        out.push_str(
            "# HELP aviso_probabilistic_failures_total Probabilistic assessments that failed (the deterministic alert was published without them).\n\
             # TYPE aviso_probabilistic_failures_total counter\n",
        );
        out.push_str(&format!(
            "aviso_probabilistic_failures_total {}\n",
            inner.probabilistic_failures
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_everything() {
        let m = Metrics::default();
        m.observe_run("rsmc", 0.07);
        m.observe_run("rsmc", 3.0);
        m.observe_run("rsmc", 100.0);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("aviso_run_duration_seconds_bucket{feed=\"rsmc\",le=\"0.05\"} 0"));
        assert!(out.contains("aviso_run_duration_seconds_bucket{feed=\"rsmc\",le=\"0.1\"} 1"));
        assert!(out.contains("aviso_run_duration_seconds_bucket{feed=\"rsmc\",le=\"5\"} 2"));
        assert!(out.contains("aviso_run_duration_seconds_bucket{feed=\"rsmc\",le=\"+Inf\"} 3"));
        assert!(out.contains("aviso_run_duration_seconds_count{feed=\"rsmc\"} 3"));
        assert!(out.contains("aviso_assessment_duration_seconds_count 0"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
