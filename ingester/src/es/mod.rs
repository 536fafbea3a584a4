//! Elasticsearch/OpenSearch side of the ingester: the client and flavour
//! detection ([`client`]), bulk request building and retries ([`bulk`]), and
//! Jaeger's index templates ([`templates`]).

pub mod bulk;
pub mod client;
pub mod templates;
