//! Figures: repeated samples of one measurement, summarised as median, min
//! and max.

use serde::{Deserialize, Serialize};

/// One measured quantity for one system in one configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    /// Scenario group: `throughput`, `netem`, `latency`, `peers`, `allocs`, `ceiling`.
    pub scenario: String,
    /// The case inside the scenario (e.g. `1 KiB plaintext`).
    pub case: String,
    /// `mconn`, `cometbft`, `yamux`, `tcp`, `aead`.
    pub system: String,
    /// The system's configuration.
    pub config: String,
    /// What was measured (e.g. `MB/s`, `p99 ms`).
    pub metric: String,
    /// Whether larger is better.
    pub higher_is_better: bool,
    /// Every run's value, in run order.
    pub samples: Vec<f64>,
    /// Median of the samples.
    #[serde(deserialize_with = "nan_if_null")]
    pub median: f64,
    /// Smallest sample.
    #[serde(deserialize_with = "nan_if_null")]
    pub min: f64,
    /// Largest sample.
    #[serde(deserialize_with = "nan_if_null")]
    pub max: f64,
    /// Why there is no value, when there is none.
    pub skipped: Option<String>,
}

impl Figure {
    /// A figure from samples.
    pub fn new(
        scenario: &str,
        case: &str,
        system: &str,
        config: &str,
        metric: &str,
        higher_is_better: bool,
        samples: Vec<f64>,
    ) -> Self {
        let (median, min, max) = summarize(&samples);
        Figure {
            scenario: scenario.into(),
            case: case.into(),
            system: system.into(),
            config: config.into(),
            metric: metric.into(),
            higher_is_better,
            samples,
            median,
            min,
            max,
            skipped: None,
        }
    }

    /// A row that could not be measured.
    pub fn skipped(scenario: &str, case: &str, system: &str, config: &str, why: &str) -> Self {
        let mut f = Figure::new(scenario, case, system, config, "", true, Vec::new());
        f.skipped = Some(why.into());
        f
    }

    /// Whether it has a value.
    pub fn ok(&self) -> bool {
        self.skipped.is_none() && !self.samples.is_empty()
    }
}

/// JSON has no NaN: serde_json writes it as `null`; read that back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Median, min, max (NaN for no samples).
pub fn summarize(samples: &[f64]) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    (median, v[0], v[v.len() - 1])
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).floor() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        assert_eq!(summarize(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(summarize(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert!(summarize(&[]).0.is_nan());
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
    }
}
