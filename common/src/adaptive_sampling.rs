//! The adaptive sampling flags both binaries take: whether it is on, the
//! Kafka topic that carries the probabilities from the ingesters to the
//! collectors, and the probability of an operation not yet calculated
//! (the ingesters start from it, the collectors serve it as each service's
//! default). Each binary adds its own (`ingester::sampling::config`,
//! `collector::sampling::adaptive`).

use clap::Args;

/// Flags shared by the ingester and the collector.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct AdaptiveSamplingArgs {
    /// Adaptive sampling, on the ingesters (compute the probabilities) and on
    /// the collectors (serve them); off by default.
    #[arg(long, env = "FERROTRACE_SAMPLING_ADAPTIVE")]
    pub sampling_adaptive: bool,

    /// Topic the ingester owning partition 0 publishes the probabilities to
    /// and the collectors follow (one partition; create it with
    /// cleanup.policy=compact).
    #[arg(
        long,
        env = "FERROTRACE_KAFKA_SAMPLING_TOPIC",
        default_value = "sampling_probabilities"
    )]
    pub kafka_sampling_topic: String,

    /// Probability of an operation not yet calculated (Jaeger's
    /// `sampling.initial-sampling-probability`).
    #[arg(
        long,
        env = "FERROTRACE_SAMPLING_INITIAL_SAMPLING_PROBABILITY",
        default_value_t = 0.001
    )]
    pub sampling_initial_sampling_probability: f64,
}

impl AdaptiveSamplingArgs {
    /// Checks what clap cannot; one clear line on error.
    pub fn validate(&self) -> Result<(), String> {
        if !self.sampling_adaptive {
            return Ok(());
        }
        check_probability(
            "--sampling-initial-sampling-probability",
            self.sampling_initial_sampling_probability,
        )?;
        if self.kafka_sampling_topic.is_empty() {
            return Err("--kafka-sampling-topic must not be empty".into());
        }
        Ok(())
    }
}

/// A probability flag must be in (0, 1].
pub fn check_probability(flag: &str, p: f64) -> Result<(), String> {
    if p > 0.0 && p <= 1.0 {
        Ok(())
    } else {
        Err(format!("{flag} must be in (0, 1]"))
    }
}
