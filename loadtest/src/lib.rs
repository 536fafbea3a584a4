//! ferrotrace load generator: builds realistic OTLP traces ([`generator`]),
//! converts them to Jaeger and Zipkin formats ([`legacy`]) and sends them to
//! a collector ([`senders`]).

pub mod generator;
pub mod legacy;
pub mod run;
pub mod senders;
pub mod verify;
