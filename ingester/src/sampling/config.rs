//! The ingester's adaptive sampling flags: Jaeger's `--sampling.*` options
//! (`internal/sampling/samplingstrategy/adaptive/options.go`), with their
//! defaults, as `--sampling-*`.

use std::time::Duration;

use clap::Args;
use ferrotrace_common::adaptive_sampling::{check_probability, AdaptiveSamplingArgs};
use ferrotrace_common::config::parse_duration;

use super::calculator;

/// Adaptive sampling (off by default).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct SamplingArgs {
    // `--sampling-adaptive`, `--kafka-sampling-topic`, `--sampling-initial-sampling-probability`.
    #[command(flatten)]
    pub shared: AdaptiveSamplingArgs,

    /// Sampled traces per second wanted per operation (Jaeger's `sampling.target-samples-per-second`).
    #[arg(
        long,
        env = "FERROTRACE_SAMPLING_TARGET_SAMPLES_PER_SECOND",
        default_value_t = 1.0
    )]
    pub sampling_target_samples_per_second: f64,

    /// Relative deviation from the target within which a probability is
    /// kept (Jaeger's `sampling.delta-tolerance`).
    #[arg(
        long,
        env = "FERROTRACE_SAMPLING_DELTA_TOLERANCE",
        default_value_t = 0.3
    )]
    pub sampling_delta_tolerance: f64,

    /// How often throughput is written and probabilities are computed; one
    /// bucket of throughput per interval (Jaeger's `sampling.calculation-interval`).
    #[arg(long, env = "FERROTRACE_SAMPLING_CALCULATION_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub sampling_calculation_interval: Duration,

    /// Buckets of throughput kept (Jaeger's `sampling.aggregation-buckets`).
    #[arg(
        long,
        env = "FERROTRACE_SAMPLING_AGGREGATION_BUCKETS",
        default_value_t = 10
    )]
    pub sampling_aggregation_buckets: usize,

    /// Newest buckets the QPS is weighted over (Jaeger's `sampling.buckets-for-calculation`).
    #[arg(
        long,
        env = "FERROTRACE_SAMPLING_BUCKETS_FOR_CALCULATION",
        default_value_t = 1
    )]
    pub sampling_buckets_for_calculation: usize,

    /// The throughput read by a calculation ends this long ago, so that every
    /// client has polled the previous probabilities (Jaeger's `sampling.delay`).
    #[arg(long, env = "FERROTRACE_SAMPLING_CALCULATION_DELAY", default_value = "2m", value_parser = parse_duration)]
    pub sampling_calculation_delay: Duration,

    /// Lowest probability calculated (Jaeger's `sampling.min-sampling-probability`).
    #[arg(
        long,
        env = "FERROTRACE_SAMPLING_MIN_SAMPLING_PROBABILITY",
        default_value_t = 1e-5
    )]
    pub sampling_min_sampling_probability: f64,
}

impl SamplingArgs {
    /// Checks what clap cannot; one clear line on error.
    pub fn validate(&self) -> Result<(), String> {
        if !self.shared.sampling_adaptive {
            return Ok(());
        }
        self.shared.validate()?;
        check_probability(
            "--sampling-min-sampling-probability",
            self.sampling_min_sampling_probability,
        )?;
        let target = self.sampling_target_samples_per_second;
        if !target.is_finite() || target <= 0.0 {
            return Err("--sampling-target-samples-per-second must be positive".into());
        }
        let tolerance = self.sampling_delta_tolerance;
        if !tolerance.is_finite() || tolerance < 0.0 {
            return Err("--sampling-delta-tolerance must be 0 or more".into());
        }
        if self.sampling_calculation_interval < Duration::from_millis(100) {
            return Err("--sampling-calculation-interval must be at least 100ms".into());
        }
        if self.sampling_aggregation_buckets == 0 || self.sampling_buckets_for_calculation == 0 {
            return Err(
                "--sampling-aggregation-buckets and --sampling-buckets-for-calculation must be positive"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn calculation(&self) -> calculator::Options {
        calculator::Options {
            target_samples_per_second: self.sampling_target_samples_per_second,
            delta_tolerance: self.sampling_delta_tolerance,
            initial_sampling_probability: self.shared.sampling_initial_sampling_probability,
            min_sampling_probability: self.sampling_min_sampling_probability,
            aggregation_buckets: self.sampling_aggregation_buckets,
            buckets_for_calculation: self.sampling_buckets_for_calculation,
        }
    }
}
