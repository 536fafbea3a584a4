#!/usr/bin/env bash
# Sends one two-span trace as OTLP/JSON to a collector (default http://127.0.0.1:4318).
set -euo pipefail
endpoint=${1:-http://127.0.0.1:4318}
now=$(date +%s%N)
trace=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
curl -sS -X POST "$endpoint/v1/traces" -H 'content-type: application/json' -d '{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "hello-service"}}]},
    "scopeSpans": [{
      "scope": {"name": "first-trace"},
      "spans": [
        {"traceId": "'"$trace"'", "spanId": "eee19b7ec3c1b174", "name": "GET /hello", "kind": 2,
         "startTimeUnixNano": "'"$now"'", "endTimeUnixNano": "'"$((now + 3000000))"'",
         "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}, {"key": "http.status_code", "value": {"intValue": "200"}}]},
        {"traceId": "'"$trace"'", "spanId": "eee19b7ec3c1b175", "parentSpanId": "eee19b7ec3c1b174", "name": "SELECT greeting", "kind": 3,
         "startTimeUnixNano": "'"$((now + 1000000))"'", "endTimeUnixNano": "'"$((now + 2000000))"'"}
      ]
    }]
  }]
}'
echo
echo "sent trace $trace"
