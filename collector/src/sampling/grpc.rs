//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy` on the Jaeger gRPC
//! receiver (:14250), as OpenTelemetry's Java sampler and jaeger-agent
//! call it.
//!
//! As in Jaeger, any service name (empty too) gets an answer: the
//! strategy configured for it or the default. A request that does not
//! parse is `INVALID_ARGUMENT`. The call runs on the receiver's raw gRPC
//! framing ([`grpc_raw`](crate::receivers::grpc_raw)): the same size limit,
//! read timeout, bearer tokens and connection limits as `PostSpans`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use ferrotrace_common::jaeger::sampling::{
    SamplingStrategyParameters, GET_SAMPLING_STRATEGY_PATH, SAMPLING_MANAGER,
};
use prost::Message;

use super::SamplingStrategies;
use crate::metrics as m;
use crate::pipeline::{Held, Pipeline};
use crate::receivers::grpc_raw::{RawRpc, RawService};
use crate::receivers::RequestLimits;

/// The receiver it is served on, its metrics' label.
const RECEIVER: &str = "jaeger_grpc";

/// `SamplingManager/GetSamplingStrategy` on raw bytes.
#[derive(Clone)]
pub struct GetSamplingStrategy {
    strategies: SamplingStrategies,
    /// Only for the request body's share of the in-flight budget.
    pipeline: Arc<Pipeline>,
}

impl RawRpc for GetSamplingStrategy {
    const SERVICE: &'static str = SAMPLING_MANAGER;
    const PATH: &'static str = GET_SAMPLING_STRATEGY_PATH;
    const RECEIVER: &'static str = RECEIVER;

    fn hold(&self) -> Held {
        self.pipeline.hold()
    }

    fn call(
        &self,
        body: Bytes,
        held: Held,
        _peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<Bytes, tonic::Status>> + Send + 'static {
        drop(held);
        let count = |result: &'static str| {
            metrics::counter!(m::SAMPLING_REQUESTS, "receiver" => RECEIVER, "result" => result)
                .increment(1);
        };
        let answer = match SamplingStrategyParameters::decode(body) {
            Ok(parameters) => {
                count("ok");
                let strategy = self.strategies.strategy(&parameters.service_name);
                Ok(Bytes::from(strategy.encode_to_vec()))
            }
            Err(error) => {
                count("bad_request");
                Err(tonic::Status::invalid_argument(format!(
                    "invalid SamplingStrategyParameters: {error}"
                )))
            }
        };
        std::future::ready(answer)
    }
}

/// The method as a tower service, routed beside `PostSpans`.
pub fn service(
    strategies: SamplingStrategies,
    pipeline: Arc<Pipeline>,
    limits: RequestLimits,
) -> RawService<GetSamplingStrategy> {
    RawService::new(
        GetSamplingStrategy {
            strategies,
            pipeline,
        },
        limits,
    )
}
