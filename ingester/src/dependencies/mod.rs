//! Jaeger service dependencies ("System Architecture"): the link rules
//! ([`links`]), shared by the daily job (`jobs::dependencies`) and the live
//! path, which counts the links of the spans this ingester stores
//! ([`window`]) and writes them every `--dependencies-flush-interval`
//! ([`live`]) as documents jaeger-query reads ([`store`]).
//! `docs/design.md` §4 says how the two fit together.

pub mod links;
pub mod live;
pub mod store;
pub mod window;
