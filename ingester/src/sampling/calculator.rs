//! The adaptive sampling calculation, Jaeger's (its `PostAggregator` and
//! `PercentageIncreaseCappedCalculator`, in
//! `internal/sampling/samplingstrategy/adaptive/`), on the same inputs with
//! the same results; pure, so the leader's loop around it does the I/O.
//!
//! Each interval the throughput every ingester stored is summed per
//! (service, operation) into a bucket; the newest `aggregation_buckets` are
//! kept. An operation's QPS is the weighted mean of its newest
//! `buckets_for_calculation` bucket rates, weights `n⁴, (n-1)⁴, … 1⁴`
//! normalised (recent buckets count most). Its new probability is
//! `old × target ÷ QPS`, where `old` is the last one computed (or the
//! initial probability), except that:
//! - within `delta_tolerance` of the target, the old one is kept;
//! - an increase is capped at +100 % per calculation (a decrease is not:
//!   oversampling is corrected at once);
//! - a QPS of 0 doubles it (so that some span gets sampled);
//! - the result is clamped to [`min_sampling_probability`, 1];
//! - an operation whose spans do not carry the probability we served is
//!   not adaptively sampled (a file strategy, a client-side sampler) and
//!   keeps its old value: "uses adaptive sampling" means the probability is
//!   the initial one, or it is among the probabilities seen in the newest
//!   bucket, or, when the operation sent nothing in it, it did so the
//!   calculation before.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use ferrotrace_format::jaeger::sampling_store::{
    probability_key, ServiceOperationValues, Throughput,
};

/// Increases are capped at this fraction of the old probability (Jaeger
/// constructs its calculator with 1.0: +100 %).
const PERCENTAGE_INCREASE_CAP: f64 = 1.0;
/// How many past calculations remember which operations used adaptive sampling.
const SERVICE_CACHE_SIZE: usize = 25;
const MAX_SAMPLING_PROBABILITY: f64 = 1.0;

/// The calculation's settings (Jaeger's adaptive sampling options).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub target_samples_per_second: f64,
    pub delta_tolerance: f64,
    pub initial_sampling_probability: f64,
    pub min_sampling_probability: f64,
    /// Buckets kept in memory.
    pub aggregation_buckets: usize,
    /// Newest buckets the QPS is weighted over.
    pub buckets_for_calculation: usize,
}

/// One operation's throughput summed over every ingester for an interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationThroughput {
    pub count: i64,
    /// Probability keys seen ([`probability_key`]).
    pub probabilities: BTreeSet<String>,
}

/// service → operation → throughput.
pub type ServiceThroughput = HashMap<String, HashMap<String, OperationThroughput>>;

#[derive(Debug, Clone)]
struct Bucket {
    throughput: ServiceThroughput,
    interval: Duration,
}

#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    probability: f64,
    using_adaptive: bool,
}

type ServiceCache = HashMap<(String, String), CacheEntry>;

/// The leader's state between calculations.
#[derive(Debug)]
pub struct Calculator {
    options: Options,
    /// Newest first.
    buckets: VecDeque<Bucket>,
    probabilities: ServiceOperationValues,
    qps: ServiceOperationValues,
    /// Newest first: per calculation, whether each operation used adaptive sampling.
    service_cache: VecDeque<ServiceCache>,
}

/// Sums the throughput documents of one interval (one per ingester and
/// operation) per operation, uniting the probabilities seen.
pub fn aggregate<'a>(documents: impl IntoIterator<Item = &'a Throughput>) -> ServiceThroughput {
    let mut out = ServiceThroughput::new();
    for doc in documents {
        let op = out
            .entry(doc.service.clone())
            .or_default()
            .entry(doc.operation.clone())
            .or_default();
        op.count += doc.count;
        op.probabilities
            .extend(doc.probabilities.iter().flat_map(|p| p.keys().cloned()));
    }
    out
}

/// Jaeger's weights for `n` buckets, newest first: `i⁴` for `i = n..1`, normalised.
fn weights(n: usize) -> Vec<f64> {
    let raw: Vec<f64> = (1..=n).rev().map(|i| (i as f64).powi(4)).collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / sum).collect()
}

/// The weighted mean of `rates`, newest first (0 for none).
pub fn weighted_qps(rates: &[f64]) -> f64 {
    rates
        .iter()
        .zip(weights(rates.len()))
        .map(|(rate, weight)| rate * weight)
        .sum()
}

/// `old × target ÷ qps`, an increase capped at +100 %.
pub fn capped_probability(target: f64, qps: f64, old: f64) -> f64 {
    let factor = target / qps;
    let new = old * factor;
    if factor > 1.0 && (new - old) / old > PERCENTAGE_INCREASE_CAP {
        return old + old * PERCENTAGE_INCREASE_CAP;
    }
    new
}

fn float_equals(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-10
}

/// Half a unit of a [`probability_key`]'s last (sixth) decimal.
const KEY_HALF_UNIT: f64 = 5e-7;
/// How far a reported probability may be from the served one and still be
/// it: OpenTelemetry's thresholds (`ot=th:`) encode a probability to a
/// precision (4 hex digits by default in the SDKs and the Collector's
/// probabilistic sampler), about 0.02 % of it.
const REPORTED_RELATIVE_TOLERANCE: f64 = 1e-3;

/// Whether the probability keys counted in an interval say the clients
/// sample with `probability`. As Jaeger, an exact key matches; but a
/// probability read back from an OpenTelemetry threshold is the served one
/// only to the threshold's precision, and a served 0.0004995 read back as
/// 0.00049949999999998 has the key 0.000499, not 0.000500. Without the
/// tolerance the calculator takes such a service for one that ignores it,
/// and keeps its probability for good.
fn reports_probability(keys: &BTreeSet<String>, probability: f64) -> bool {
    let tolerance = KEY_HALF_UNIT.max(probability * REPORTED_RELATIVE_TOLERANCE) * (1.0 + 1e-9);
    keys.contains(&probability_key(probability))
        || keys
            .iter()
            .filter_map(|key| key.parse::<f64>().ok())
            .any(|reported| (reported - probability).abs() <= tolerance)
}

impl Calculator {
    pub fn new(options: Options) -> Self {
        Self {
            options,
            buckets: VecDeque::new(),
            probabilities: ServiceOperationValues::new(),
            qps: ServiceOperationValues::new(),
            service_cache: VecDeque::new(),
        }
    }

    /// Continues from a stored calculation (another leader's).
    pub fn restore(&mut self, probabilities: ServiceOperationValues, qps: ServiceOperationValues) {
        self.probabilities = probabilities;
        self.qps = qps;
    }

    /// The last calculated probabilities.
    pub fn probabilities(&self) -> &ServiceOperationValues {
        &self.probabilities
    }

    /// Adds the newest interval's throughput, dropping the oldest bucket
    /// beyond `aggregation_buckets`.
    pub fn push_bucket(&mut self, throughput: ServiceThroughput, interval: Duration) {
        self.buckets.push_front(Bucket {
            throughput,
            interval,
        });
        self.buckets
            .truncate(self.options.aggregation_buckets.max(1));
    }

    /// Appends an older interval's throughput (filling the buckets from the
    /// store when taking over), unless all buckets are filled.
    pub fn push_older_bucket(&mut self, throughput: ServiceThroughput, interval: Duration) {
        if self.buckets.len() < self.options.aggregation_buckets.max(1) {
            self.buckets.push_back(Bucket {
                throughput,
                interval,
            });
        }
    }

    /// Per operation, the rates of its newest `buckets_for_calculation`
    /// buckets that have it, newest first.
    fn rates(&self) -> HashMap<String, HashMap<String, Vec<f64>>> {
        let mut out: HashMap<String, HashMap<String, Vec<f64>>> = HashMap::new();
        for bucket in &self.buckets {
            let seconds = bucket.interval.as_secs_f64();
            for (service, operations) in &bucket.throughput {
                let service_rates = out.entry(service.clone()).or_default();
                for (operation, throughput) in operations {
                    let rates = service_rates.entry(operation.clone()).or_default();
                    if rates.len() < self.options.buckets_for_calculation {
                        rates.push(throughput.count as f64 / seconds);
                    }
                }
            }
        }
        out
    }

    /// Computes every operation's probability and QPS from the buckets; they
    /// become the state the next calculation starts from. No bucket: the
    /// state as it is.
    pub fn calculate(&mut self) -> (ServiceOperationValues, ServiceOperationValues) {
        if self.buckets.is_empty() {
            return (self.probabilities.clone(), self.qps.clone());
        }
        self.service_cache.push_front(ServiceCache::new());
        self.service_cache.truncate(SERVICE_CACHE_SIZE);
        let mut probabilities = ServiceOperationValues::new();
        let mut all_qps = ServiceOperationValues::new();
        for (service, operations) in self.rates() {
            for (operation, rates) in operations {
                let qps = weighted_qps(&rates);
                let probability = self.probability(&service, &operation, qps);
                all_qps
                    .entry(service.clone())
                    .or_default()
                    .insert(operation.clone(), qps);
                probabilities
                    .entry(service.clone())
                    .or_default()
                    .insert(operation, probability);
            }
        }
        self.probabilities = probabilities;
        self.qps = all_qps;
        (self.probabilities.clone(), self.qps.clone())
    }

    fn probability(&mut self, service: &str, operation: &str, qps: f64) -> f64 {
        let options = &self.options;
        let old = self
            .probabilities
            .get(service)
            .and_then(|ops| ops.get(operation))
            .copied()
            .unwrap_or(options.initial_sampling_probability);
        let using_adaptive = self.uses_adaptive_sampling(old, service, operation);
        if let Some(cache) = self.service_cache.front_mut() {
            cache.insert(
                (service.to_owned(), operation.to_owned()),
                CacheEntry {
                    probability: old,
                    using_adaptive,
                },
            );
        }
        let target = options.target_samples_per_second;
        if (qps - target).abs() / target < options.delta_tolerance || !using_adaptive {
            return old;
        }
        let new = if float_equals(qps, 0.0) {
            old * 2.0
        } else {
            capped_probability(target, qps, old)
        };
        new.max(options.min_sampling_probability)
            .min(MAX_SAMPLING_PROBABILITY)
    }

    fn uses_adaptive_sampling(&self, probability: f64, service: &str, operation: &str) -> bool {
        if float_equals(probability, self.options.initial_sampling_probability) {
            // Seen for the first time: assume so; the next round will tell.
            return true;
        }
        let latest = self
            .buckets
            .front()
            .and_then(|b| b.throughput.get(service))
            .and_then(|ops| ops.get(operation));
        if let Some(throughput) = latest {
            return reports_probability(&throughput.probabilities, probability);
        }
        // Nothing from it this round: as it was the round before.
        self.service_cache
            .get(1)
            .and_then(|c| c.get(&(service.to_owned(), operation.to_owned())))
            .is_some_and(|e| {
                e.using_adaptive
                    && !float_equals(e.probability, self.options.initial_sampling_probability)
            })
    }
}

#[cfg(test)]
mod tests {
    //! Jaeger's own test vectors (jaegertracing/jaeger,
    //! internal/sampling/samplingstrategy/adaptive/post_aggregator_test.go,
    //! weightvectorcache_test.go and
    //! calculationstrategy/percentage_increase_capped_calculator_test.go).
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn options(delta_tolerance: f64, buckets_for_calculation: usize) -> Options {
        Options {
            target_samples_per_second: 1.0,
            delta_tolerance,
            initial_sampling_probability: 0.001,
            min_sampling_probability: 0.00001,
            aggregation_buckets: 10,
            buckets_for_calculation,
        }
    }

    /// `(service, operation, count, probability keys)`.
    type Row = (&'static str, &'static str, i64, &'static [&'static str]);
    /// `(service, operation, probability)`; an empty service is no row.
    type Expected = (&'static str, &'static str, f64);

    /// Rows as a bucket.
    fn bucket(rows: &[Row]) -> ServiceThroughput {
        let mut out = ServiceThroughput::new();
        for &(service, operation, count, probabilities) in rows {
            out.entry(service.into()).or_default().insert(
                operation.into(),
                OperationThroughput {
                    count,
                    probabilities: probabilities.iter().map(|p| p.to_string()).collect(),
                },
            );
        }
        out
    }

    fn values(rows: &[(&str, &str, f64)]) -> ServiceOperationValues {
        let mut out = ServiceOperationValues::new();
        for &(service, operation, value) in rows {
            out.entry(service.into())
                .or_default()
                .insert(operation.into(), value);
        }
        out
    }

    #[test]
    fn weights_favour_recent_buckets() {
        assert_eq!(weights(1), vec![1.0]);
        assert!((weights(3)[0] - 0.8265306122448979).abs() < 0.001);
        let five = weights(5);
        assert!((five[0] - 0.6384).abs() < 0.001);
        assert!((five[4] - 0.0010).abs() < 0.001);
        assert!((weighted_qps(&[0.8, 1.2, 1.0]) - 0.86735).abs() < 0.001);
        assert!((weighted_qps(&[1.0, 1.0, 0.0, 0.0]) - 0.95197).abs() < 0.001);
        assert_eq!(weighted_qps(&[]), 0.0);
    }

    #[test]
    fn caps_increases_at_one_hundred_percent() {
        // Jaeger's calculator test uses a 50 % cap; its adaptive sampler 100 %.
        assert!((capped_probability(1.0, 2.0, 0.1) - 0.05).abs() < 1e-9);
        assert!((capped_probability(1.0, 0.8, 0.1) - 0.125).abs() < 1e-9);
        assert!((capped_probability(1.0, 0.25, 0.1) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn aggregates_throughput_of_every_ingester() {
        let doc = |service: &str, operation: &str, count, p: &str| Throughput {
            service: service.into(),
            operation: operation.into(),
            count,
            probabilities: Some([(p.to_string(), Default::default())].into()),
        };
        let docs = [
            doc("svcA", "GET", 4, "0.1"),
            doc("svcA", "GET", 4, "0.2"),
            doc("svcA", "PUT", 5, "0.1"),
            doc("svcB", "GET", 3, "0.1"),
        ];
        let aggregated = aggregate(&docs);
        assert_eq!(
            aggregated,
            bucket(&[
                ("svcA", "GET", 8, &["0.1", "0.2"]),
                ("svcA", "PUT", 5, &["0.1"]),
                ("svcB", "GET", 3, &["0.1"]),
            ])
        );
    }

    /// TestCalculateProbability, with the capped calculator: its "max
    /// probability" row (which relies on an uncapped test calculator) is
    /// replaced by one that reaches 1 within the cap.
    #[test]
    fn calculates_one_probability_like_jaeger() {
        let mut calculator = Calculator::new(options(0.2, 1));
        calculator.push_bucket(bucket(&[("svcA", "GET", 0, &["0.500000"])]), MINUTE);
        calculator.restore(
            values(&[("svcA", "GET", 0.5), ("svcC", "GET", 0.8)]),
            values(&[]),
        );
        calculator.service_cache.push_front(ServiceCache::new());
        for (service, operation, qps, expected, what) in [
            ("svcA", "GET", 2.0, 0.25, "modify existing probability"),
            ("svcA", "PUT", 2.0, 0.0005, "modify default probability"),
            (
                "svcB",
                "GET",
                0.9,
                0.001,
                "qps within equivalence threshold",
            ),
            (
                "svcB",
                "DELETE",
                1_000_000_000.0,
                0.00001,
                "min probability",
            ),
            ("svcB", "DELETE", 0.0, 0.002, "0 qps"),
        ] {
            let got = calculator.probability(service, operation, qps);
            assert!((got - expected).abs() < 1e-6, "{what}: {got}");
        }
        calculator.buckets[0] = Bucket {
            throughput: bucket(&[("svcC", "GET", 0, &["0.800000"])]),
            interval: MINUTE,
        };
        assert_eq!(calculator.probability("svcC", "GET", 0.5), 1.0, "max");
    }

    /// TestCalculateProbabilitiesAndQPS.
    #[test]
    fn calculates_probabilities_and_qps_like_jaeger() {
        let mut calculator = Calculator::new(options(0.2, 10));
        calculator.push_bucket(
            bucket(&[("svcA", "GET", 30, &[]), ("svcB", "GET", 45, &[])]),
            MINUTE,
        );
        calculator.push_bucket(
            bucket(&[
                ("svcA", "GET", 45, &[]),
                ("svcA", "PUT", 60, &[]),
                ("svcB", "GET", 30, &[]),
                ("svcB", "PUT", 15, &[]),
            ]),
            MINUTE,
        );
        calculator.restore(
            values(&[("svcB", "GET", 0.16), ("svcB", "PUT", 0.03)]),
            values(&[("svcB", "GET", 0.625)]),
        );
        let (probabilities, qps) = calculator.calculate();
        assert_eq!(
            probabilities,
            values(&[
                ("svcA", "GET", 0.00136),
                ("svcA", "PUT", 0.001),
                ("svcB", "GET", 0.16),
                ("svcB", "PUT", 0.03),
            ])
        );
        assert_eq!(
            qps,
            values(&[
                ("svcA", "GET", 0.7352941176470588),
                ("svcA", "PUT", 1.0),
                ("svcB", "GET", 0.5147058823529411),
                ("svcB", "PUT", 0.25),
            ])
        );
    }

    /// TestCalculateProbabilitiesAndQPSMultiple: nine calculations in a row.
    #[test]
    fn follows_jaegers_multi_round_vector() {
        let mut calculator = Calculator::new(options(0.002, 5));
        const P: &str = "0.001000";
        let rounds: Vec<(Vec<Row>, [Expected; 4])> = vec![
            (
                vec![
                    ("svcA", "GET", 3, &[P]),
                    ("svcA", "PUT", 60, &[P]),
                    ("svcB", "PUT", 15, &[P]),
                ],
                [
                    ("svcA", "GET", 0.002),
                    ("svcA", "PUT", 0.001),
                    ("svcB", "PUT", 0.002),
                    ("", "", 0.0),
                ],
            ),
            (
                vec![
                    ("svcA", "PUT", 60, &[P]),
                    ("svcB", "GET", 30, &[P]),
                    ("svcB", "PUT", 0, &["0.002000"]),
                ],
                [
                    ("svcA", "GET", 0.002),
                    ("svcA", "PUT", 0.001),
                    ("svcB", "PUT", 0.004),
                    ("svcB", "GET", 0.002),
                ],
            ),
            (
                vec![
                    ("svcA", "GET", 0, &["0.002000"]),
                    ("svcA", "PUT", 60, &[P]),
                    ("svcB", "GET", 30, &[P]),
                ],
                [
                    ("svcA", "GET", 0.004),
                    ("svcA", "PUT", 0.001),
                    ("svcB", "PUT", 0.008),
                    ("svcB", "GET", 0.002),
                ],
            ),
            (
                vec![
                    ("svcA", "GET", 1, &["0.004000"]),
                    ("svcA", "PUT", 60, &[P]),
                    ("svcB", "GET", 30, &[P]),
                    ("svcB", "PUT", 15, &[P]),
                ],
                [
                    ("svcA", "GET", 0.008),
                    ("svcA", "PUT", 0.001),
                    ("svcB", "PUT", 0.008),
                    ("svcB", "GET", 0.002),
                ],
            ),
            (
                vec![
                    ("svcA", "PUT", 30, &[P]),
                    ("svcB", "GET", 30, &[P]),
                    ("svcB", "PUT", 15, &[P]),
                ],
                [
                    ("svcA", "GET", 0.016),
                    ("svcA", "PUT", 0.001468867216804201),
                    ("svcB", "PUT", 0.008),
                    ("svcB", "GET", 0.002),
                ],
            ),
            (
                vec![
                    ("svcA", "PUT", 30, &[P]),
                    ("svcB", "GET", 30, &[P]),
                    ("svcB", "PUT", 1, &["0.008000"]),
                ],
                [
                    ("svcA", "GET", 0.032),
                    ("svcA", "PUT", 0.001468867216804201),
                    ("svcB", "PUT", 0.016),
                    ("svcB", "GET", 0.002),
                ],
            ),
            (
                vec![("svcA", "PUT", 30, &[P]), ("svcB", "GET", 15, &[P])],
                [
                    ("svcA", "GET", 0.064),
                    ("svcA", "PUT", 0.001468867216804201),
                    ("svcB", "PUT", 0.032),
                    ("svcB", "GET", 0.002),
                ],
            ),
            (
                vec![("svcA", "PUT", 20, &[P]), ("svcB", "GET", 10, &[P])],
                [
                    ("svcA", "GET", 0.128),
                    ("svcA", "PUT", 0.001468867216804201),
                    ("svcB", "PUT", 0.064),
                    ("svcB", "GET", 0.002),
                ],
            ),
            (
                vec![
                    ("svcA", "PUT", 20, &[P]),
                    ("svcA", "GET", 120, &["0.128000"]),
                    ("svcB", "PUT", 60, &["0.064000"]),
                    ("svcB", "GET", 10, &[P]),
                ],
                [
                    ("svcA", "GET", 0.0882586677054928),
                    ("svcA", "PUT", 0.001468867216804201),
                    ("svcB", "PUT", 0.09587513707888091),
                    ("svcB", "GET", 0.002),
                ],
            ),
        ];
        for (round, (rows, expected)) in rounds.into_iter().enumerate() {
            calculator.push_bucket(bucket(&rows), MINUTE);
            let (probabilities, _) = calculator.calculate();
            let expected: Vec<_> = expected.into_iter().filter(|e| !e.0.is_empty()).collect();
            assert_eq!(probabilities, values(&expected), "round {}", round + 1);
        }
    }

    #[test]
    fn keeps_the_state_without_buckets() {
        let mut calculator = Calculator::new(options(0.3, 1));
        calculator.restore(
            values(&[("svc", "op", 0.05)]),
            values(&[("svc", "op", 1.0)]),
        );
        assert_eq!(calculator.calculate().0, values(&[("svc", "op", 0.05)]));
    }

    /// The probability a client reports through an OpenTelemetry threshold
    /// (`ot=th:`, full 14 hex digits) for a served `probability`.
    fn read_back_from_threshold(probability: f64) -> f64 {
        let threshold = ((1.0 - probability) * 72_057_594_037_927_936.0).round() as u64;
        crate::sampling::probability::threshold_probability(&format!("ot=th:{threshold:014x}"))
            .expect("a threshold")
    }

    #[test]
    fn a_probability_read_back_from_a_threshold_is_the_one_served() {
        let served = 0.0004995;
        let reported = read_back_from_threshold(served);
        // The case that kept a service's probability for good: the read-back
        // rounds to the neighbouring key.
        assert_eq!(probability_key(served), "0.000500");
        assert_eq!(probability_key(reported), "0.000499");
        let mut calculator = Calculator::new(options(0.3, 1));
        calculator.restore(
            values(&[("svc", "op", served)]),
            values(&[("svc", "op", 100.0)]),
        );
        calculator.push_bucket(bucket(&[("svc", "op", 600, &["0.000499"])]), MINUTE);
        let new = calculator.calculate().0["svc"]["op"];
        assert!((new - served / 10.0).abs() < 1e-12, "{new}");
    }

    #[test]
    fn reported_probabilities_match_within_their_precision_only() {
        let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        assert!(reports_probability(&keys(&["0.001000"]), 0.001));
        assert!(reports_probability(&keys(&["0.000499"]), 0.0004995));
        // A 4-hex-digit threshold of 0.3 reads back as 0.30000305.
        assert!(reports_probability(&keys(&["0.300003"]), 0.3));
        assert!(!reports_probability(&keys(&["0.000498"]), 0.0004995));
        assert!(!reports_probability(&keys(&["0.002000"]), 0.001));
        assert!(!reports_probability(&keys(&["0.301000"]), 0.3));
        assert!(!reports_probability(&keys(&[]), 0.3));
    }
}
