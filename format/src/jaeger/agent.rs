//! One UDP packet of the Jaeger agent protocol: a Thrift message calling
//! `Agent.emitBatch(jaeger.Batch)` or `Agent.emitZipkinBatch(list<Span>)`,
//! in the compact (:6831) or binary (:6832) protocol.
//!
//! Decoding is bounded by the packet: no length inside it can make the
//! reader allocate more than the packet holds.

use thrift::protocol::{TInputProtocol, TMessageType};

use super::thrift::{read_emit_batch_args, Batch};
use crate::thrift::{SliceInput, ThriftProtocol};
use crate::zipkin;

/// What a Jaeger client sent.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentMessage {
    /// `emitBatch`: Jaeger's own span model.
    Batch(Batch),
    /// `emitZipkinBatch`: Zipkin v1 spans.
    ZipkinBatch(Vec<zipkin::V1Span>),
}

/// Why a packet was not decoded; `label()` is the metric reason.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("unknown method {0:?}, expected emitBatch or emitZipkinBatch")]
    UnknownMethod(String),
    #[error("invalid Thrift message: {}", crate::thrift::describe(.0))]
    Malformed(#[from] thrift::Error),
}

impl AgentError {
    pub fn label(&self) -> &'static str {
        match self {
            AgentError::UnknownMethod(_) => "unknown_method",
            AgentError::Malformed(_) => "malformed",
        }
    }
}

/// Decodes one packet.
pub fn read_agent_message(
    packet: &[u8],
    protocol: ThriftProtocol,
) -> Result<AgentMessage, AgentError> {
    let mut input = SliceInput::new(packet, protocol);
    let message = input.read_message_begin()?;
    if !matches!(
        message.message_type,
        TMessageType::OneWay | TMessageType::Call
    ) {
        return Err(AgentError::Malformed(thrift::Error::Protocol(
            thrift::ProtocolError::new(
                thrift::ProtocolErrorKind::InvalidData,
                format!("unexpected message type {:?}", message.message_type),
            ),
        )));
    }
    let decoded = match message.name.as_str() {
        "emitBatch" => AgentMessage::Batch(read_emit_batch_args(&mut input)?),
        "emitZipkinBatch" => {
            AgentMessage::ZipkinBatch(zipkin::thrift::read_emit_zipkin_batch_args(&mut input)?)
        }
        _ => return Err(AgentError::UnknownMethod(message.name)),
    };
    input.read_message_end()?;
    Ok(decoded)
}
