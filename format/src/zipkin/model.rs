//! The Zipkin v2 span as the decoders hand it to the translator: the fields
//! of `zipkin2-api.yaml`'s `Span`, already validated by the decoder and
//! stored in binary form (IDs as bytes, endpoint addresses parsed).
//!
//! The model holds what the OpenTelemetry Collector's Zipkin v2 translator
//! reads from zipkin-go's `SpanModel`, and nothing it ignores: a 64-bit trace
//! ID is stored with a zero high half, a missing or zero timestamp, duration
//! or parent ID is `None`, and tags are a sorted map (the Collector iterates
//! a Go map, so it has no order of its own; sorted is the deterministic
//! choice).

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One Zipkin v2 span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Span {
    /// 128-bit trace ID, big endian; a 64-bit ID has a zero high half.
    pub trace_id: [u8; 16],
    pub id: [u8; 8],
    /// `None` for a root span (also for a zero or empty `parentId`).
    pub parent_id: Option<[u8; 8]>,
    /// `None` when absent or not one of the four known kinds.
    pub kind: Option<Kind>,
    pub name: String,
    /// Start, µs since the Unix epoch; `None` when absent or zero.
    pub timestamp: Option<u64>,
    /// µs; `None` when absent or zero.
    pub duration: Option<u64>,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    pub annotations: Vec<Annotation>,
    pub tags: BTreeMap<String, String>,
    pub debug: bool,
    pub shared: bool,
}

/// `Span.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
}

impl Kind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Client => "CLIENT",
            Kind::Server => "SERVER",
            Kind::Producer => "PRODUCER",
            Kind::Consumer => "CONSUMER",
        }
    }

    /// Parses the JSON spelling; anything else (including lower case, as
    /// zipkin-go compares exactly) is no kind.
    pub fn from_json(text: &str) -> Option<Kind> {
        match text {
            "CLIENT" => Some(Kind::Client),
            "SERVER" => Some(Kind::Server),
            "PRODUCER" => Some(Kind::Producer),
            "CONSUMER" => Some(Kind::Consumer),
            _ => None,
        }
    }
}

/// The network context of a node in the service graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// Empty when unknown.
    pub service_name: String,
    /// The `ipv4` field. zipkin-go parses either field as any IP address,
    /// so this may hold an IPv6 value (and is printed as such).
    pub ipv4: Option<IpAddr>,
    /// The `ipv6` field.
    pub ipv6: Option<IpAddr>,
    /// 0 when unknown.
    pub port: u16,
}

impl Endpoint {
    /// zipkin-go drops an endpoint with no field set.
    pub fn is_empty(&self) -> bool {
        self.service_name.is_empty() && self.ipv4.is_none() && self.ipv6.is_none() && self.port == 0
    }
}

/// A timestamped event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotation {
    /// µs since the Unix epoch.
    pub timestamp: u64,
    pub value: String,
}

/// Formats an address the way Go's `net.IP.String` does, which is what the
/// Collector writes into `net.*.ip`: an IPv4-mapped IPv6 address prints as
/// dotted IPv4; everything else matches Rust's RFC 5952 formatting.
pub(crate) fn go_ip_string(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
    }
}

/// Go's `net.IP(bytes).String()` for raw address bytes (Zipkin v1 Thrift
/// `ipv6`): 4 or 16 bytes format as addresses, any other length as `?` and
/// lower-case hex.
pub(crate) fn go_ip_bytes_string(bytes: &[u8]) -> String {
    if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
        return go_ip_string(&IpAddr::from(octets));
    }
    if let Ok(octets) = <[u8; 16]>::try_from(bytes) {
        return go_ip_string(&IpAddr::from(octets));
    }
    let mut text = String::with_capacity(1 + 2 * bytes.len());
    text.push('?');
    for byte in bytes {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_addresses_like_go() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(go_ip_string(&ip("10.0.0.1")), "10.0.0.1");
        assert_eq!(go_ip_string(&ip("::ffff:10.0.0.1")), "10.0.0.1");
        assert_eq!(
            go_ip_string(&ip("2001:db8:0:0:1:0:0:1")),
            "2001:db8::1:0:0:1"
        );
        assert_eq!(go_ip_string(&ip("::1")), "::1");
        assert_eq!(go_ip_bytes_string(&[192, 168, 0, 1]), "192.168.0.1");
        assert_eq!(go_ip_bytes_string(&[1, 2, 3]), "?010203");
        let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4];
        assert_eq!(go_ip_bytes_string(&mapped), "1.2.3.4");
    }

    #[test]
    fn parses_only_the_four_upper_case_kinds() {
        for kind in [Kind::Client, Kind::Server, Kind::Producer, Kind::Consumer] {
            assert_eq!(Kind::from_json(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::from_json("client"), None);
        assert_eq!(Kind::from_json(""), None);
    }
}
