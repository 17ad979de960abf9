//! In-process measurements the store does not keep (durations), rendered in the
//! Prometheus text format (exposition format 0.0.4) for `/metrics`. Counters that must
//! survive a restart (fetches, runs, alerts) live in the store instead.
//!
//! Hand-written: a few histograms do not justify the `prometheus` crate and its
//! protobuf/lazy-static tree, and prometheus-client's registry holds in-process metric
//! objects, while most of aviso's values are read from the store at scrape time (the store
//! is what replicas share). [`Exposition`] writes the text format for both. Pure: no I/O.

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

    fn render(&self, e: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let bounds = BUCKETS_S.iter().map(|b| b.to_string());
        let counts = self.counts.iter().chain(std::iter::once(&self.count));
        for (le, n) in bounds
            .chain(std::iter::once("+Inf".to_string()))
            .zip(counts)
        {
            let mut l = labels.to_vec();
            l.push(("le", &le));
            e.sample(&bucket, &l, n);
        }
        e.sample(&format!("{name}_sum"), labels, self.sum);
        e.sample(&format!("{name}_count"), labels, self.count);
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

/// The Prometheus text format (0.0.4) being written: a family's `# HELP`/`# TYPE` lines,
/// then its samples, label values escaped.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a metric family: `kind` is counter, gauge or histogram.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        self
    }

    /// One sample; `labels` are (name, value) pairs, the values escaped here.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    pub fn into_string(self) -> String {
        self.out
    }
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
    pub fn render(&self, e: &mut Exposition) {
        let inner = self.lock();
        e.family(
            "aviso_run_duration_seconds",
            "histogram",
            "Duration of one feed cycle: fetch, store, assess, publish.",
        );
        for (feed, h) in &inner.runs {
            h.render(e, "aviso_run_duration_seconds", &[("feed", feed)]);
        }
        e.family(
            "aviso_assessment_duration_seconds",
            "histogram",
            "Duration of one assessment (hazard, exposure, levels).",
        );
        inner
            .assessments
            .render(e, "aviso_assessment_duration_seconds", &[]);
        e.family(
            "aviso_probabilistic_duration_seconds",
            "histogram",
            "Duration of one probabilistic assessment of a published cyclone version.",
        );
        inner
            .probabilistic
            .render(e, "aviso_probabilistic_duration_seconds", &[]);
        e.family(
            "aviso_probabilistic_failures_total",
            "counter",
            "Probabilistic assessments that failed (the deterministic alert was published without them).",
        )
        .sample(
            "aviso_probabilistic_failures_total",
            &[],
            inner.probabilistic_failures,
        );
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
        let mut e = Exposition::default();
        m.render(&mut e);
        let out = e.into_string();
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
