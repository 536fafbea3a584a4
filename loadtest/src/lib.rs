//! ferrotrace load generator: builds realistic OTLP traces ([`generator`])
//! and sends them to a collector ([`senders`]).

pub mod generator;
pub mod senders;
