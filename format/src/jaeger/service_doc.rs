//! Jaeger's service:operation document, `{"serviceName":…,"operationName":…}`
//! in the daily `jaeger-service-` index, and its `_id`: FNV-1a 64 over the
//! service name bytes followed by the operation name bytes, printed as
//! unpadded lowercase hex (Go's `%x`), so our service docs overwrite
//! Jaeger's own and vice versa.

use super::go_json::push_json_str;

/// Jaeger's service document hash: FNV-1a 64 over the service name bytes
/// then the operation name bytes, with nothing between them.
pub fn service_doc_hash(service: &str, operation: &str) -> u64 {
    crate::fnv::fnv1a_64(&[service.as_bytes(), operation.as_bytes()])
}

/// The `_id` Jaeger gives the service:operation document: the hash as
/// lowercase hex *without* zero padding (Go `fmt.Sprintf("%x", …)`).
pub fn service_doc_id(service: &str, operation: &str) -> String {
    format!("{:x}", service_doc_hash(service, operation))
}

/// Appends the service document JSON, `{"serviceName":…,"operationName":…}`,
/// escaped like the span writer escapes strings.
pub fn write_service_doc(out: &mut Vec<u8>, service: &str, operation: &str) {
    out.extend_from_slice(b"{\"serviceName\":");
    push_json_str(out, service);
    out.extend_from_slice(b",\"operationName\":");
    push_json_str(out, operation);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaeger::model::Service;

    #[test]
    fn service_doc_id_matches_jaeger_fnv64a() {
        // FNV-1a 64 of the empty input is the offset basis; of "a" a known
        // vector; Jaeger prints it with %x, so no zero padding.
        assert_eq!(service_doc_id("", ""), "cbf29ce484222325");
        assert_eq!(service_doc_id("a", ""), "af63dc4c8601ec8c");
        assert_eq!(service_doc_id("", "a"), "af63dc4c8601ec8c");
        assert_eq!(service_doc_id("foo", "bar"), service_doc_id("foob", "ar"));
        assert_eq!(service_doc_id("foobar", ""), "85944171f73967e8");
        // A hash below 2^60 would print fewer than 16 digits.
        assert_eq!(format!("{:x}", 0x0abc_u64), "abc");
    }

    #[test]
    fn writes_service_doc_json() {
        let mut out = Vec::new();
        write_service_doc(&mut out, "api \"v2\"", "GET /x");
        assert_eq!(
            out,
            br#"{"serviceName":"api \"v2\"","operationName":"GET /x"}"#.to_vec()
        );
        let parsed: Service = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(parsed.service_name, "api \"v2\"");
    }
}
