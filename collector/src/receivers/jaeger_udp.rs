//! Jaeger agent UDP receivers: Thrift compact on :6831 and Thrift binary on
//! :6832, one `Agent.emitBatch` (or `emitZipkinBatch`) call per packet.
//!
//! Built like the Jaeger agent: one task reads the socket into a bounded
//! queue, a small pool of workers decodes, translates and exports. The
//! reader never waits: when the queue is full the packet is dropped and
//! counted, so a slow Kafka costs packets rather than an unbounded backlog
//! in the kernel buffer or in memory. UDP has no answer, so every packet
//! that is not exported (too large, malformed, queue full, Kafka refusing)
//! is counted in `ferrotrace_collector_udp_packets_dropped_total` or the
//! span counters, and logged at most every few seconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ferrotrace_common::log_limit::{LogLimiter, LOG_INTERVAL};
use ferrotrace_format::jaeger::agent::{read_agent_message, AgentMessage};
use ferrotrace_format::jaeger::to_otlp::thrift_batch_to_otlp;
use ferrotrace_format::thrift::ThriftProtocol;
use ferrotrace_format::zipkin;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use super::export_translated;
use crate::metrics as m;
use crate::pipeline::Pipeline;
use crate::refusals::Origin;

/// Tuning shared by both UDP receivers.
#[derive(Debug, Clone, Copy)]
pub struct UdpOptions {
    /// Largest packet accepted; a longer one is dropped.
    pub max_packet_bytes: usize,
    /// Packets waiting for a worker; beyond it packets are dropped.
    pub queue_size: usize,
    /// Workers decoding and exporting packets.
    pub workers: usize,
}

/// The metric label of a receiver.
pub fn receiver_name(protocol: ThriftProtocol) -> &'static str {
    match protocol {
        ThriftProtocol::Compact => "jaeger_compact",
        ThriftProtocol::Binary => "jaeger_binary",
    }
}

/// Reads packets until `shutdown`, then lets the workers finish the queue.
pub async fn serve(
    socket: UdpSocket,
    protocol: ThriftProtocol,
    pipeline: Arc<Pipeline>,
    options: UdpOptions,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let receiver = receiver_name(protocol);
    let (queue, packets) = mpsc::channel::<(Instant, SocketAddr, Bytes)>(options.queue_size.max(1));
    let packets = Arc::new(Mutex::new(packets));
    let limiter = Arc::new(LogLimiter::new(LOG_INTERVAL));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.workers.max(1) {
        let packets = packets.clone();
        let pipeline = pipeline.clone();
        let limiter = limiter.clone();
        workers.spawn(async move {
            loop {
                // The lock is held only while waiting for the next packet.
                let next = packets.lock().await.recv().await;
                let Some((received, peer, packet)) = next else {
                    break;
                };
                let origin = Origin::new(receiver_name(protocol), Some(peer));
                process(&pipeline, protocol, &packet, origin, received, &limiter).await;
            }
        });
    }

    // One byte more than the limit tells an oversized packet from one that fits exactly.
    let mut buf = vec![0u8; options.max_packet_bytes + 1];
    let result = loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, peer) = match received {
            Ok(received) => received,
            // ICMP errors surface on some platforms as recv errors: not fatal for a server socket.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(error) => break Err(error),
        };
        metrics::counter!(m::RECEIVED_BYTES, "receiver" => receiver).increment(len as u64);
        if len > options.max_packet_bytes {
            drop_packet(
                receiver,
                "too_large",
                &limiter,
                || tracing::warn!(receiver, %peer, max = options.max_packet_bytes, "udp packet larger than the limit dropped"),
            );
            continue;
        }
        let packet = Bytes::copy_from_slice(&buf[..len]);
        if queue.try_send((Instant::now(), peer, packet)).is_err() {
            drop_packet(receiver, "queue_full", &limiter, || {
                tracing::warn!(
                    receiver,
                    queue = options.queue_size,
                    "udp queue full, packet dropped"
                )
            });
        }
    };
    drop(queue);
    while workers.join_next().await.is_some() {}
    result
}

fn drop_packet(
    receiver: &'static str,
    reason: &'static str,
    limiter: &LogLimiter,
    log: impl FnOnce(),
) {
    metrics::counter!(m::UDP_PACKETS_DROPPED, "receiver" => receiver, "reason" => reason)
        .increment(1);
    if limiter.allow().is_some() {
        log();
    }
}

async fn process(
    pipeline: &Pipeline,
    protocol: ThriftProtocol,
    packet: &[u8],
    origin: Origin,
    received: Instant,
    limiter: &LogLimiter,
) {
    let receiver = origin.receiver;
    let peer = origin.peer;
    let translated = match read_agent_message(packet, protocol) {
        Ok(AgentMessage::Batch(batch)) => thrift_batch_to_otlp(batch),
        Ok(AgentMessage::ZipkinBatch(spans)) => zipkin::v1_spans_to_otlp(spans),
        Err(error) => {
            drop_packet(
                receiver,
                error.label(),
                limiter,
                || tracing::warn!(receiver, ?peer, %error, bytes = packet.len(), "udp packet dropped"),
            );
            return;
        }
    };
    let held = pipeline.hold();
    // Refused spans are logged with the refusals of every receiver, Kafka
    // trouble by the pipeline: nothing more to say here.
    let _ = export_translated(pipeline, origin, translated, received, held).await;
}
