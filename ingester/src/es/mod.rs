//! Elasticsearch/OpenSearch side of the ingester: the client and flavour
//! detection ([`client`]), bulk request building and retries ([`bulk`]),
//! Jaeger's index templates ([`templates`]), and the index administration
//! the jobs share ([`admin`]: aliases, create and delete index, creation
//! dates, stats).

pub mod admin;
pub mod bulk;
pub mod client;
pub mod templates;
