"""Checks that Jaeger Query (k8s/jaeger-query/) reads what the ingester writes
(k8s/base/): called by scripts/check-k8s.sh, run from the repository root.

The ingester's settings are the ConfigMap `ferrotrace` with the literal env of
its Deployment on top, and the flags' defaults where neither sets one. Jaeger's
are the `config.yaml` of the ConfigMap `jaeger-query`, a Jaeger v2 (2.20)
configuration: every key must be one Jaeger reads (names from Jaeger's
sources: internal/storage/elasticsearch/config/, the jaeger_query and
jaeger_storage extensions), since Jaeger refuses to start on an unknown key.
Compared: index prefix, daily indices (date separator) or rollover aliases,
tags-as-fields, Elasticsearch URLs, password file, CA, the username's Secret,
and max_span_age against the retention CronJob's --keep-days; and Jaeger's
listeners against the Deployment's ports and probes."""
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from strict_yaml import StrictLoader

BASE = "k8s/base"
QUERY = "k8s/jaeger-query"
# Defaults of the ingester's flags (ingester/src/config.rs).
INGESTER_DEFAULTS = {
    "FERROTRACE_ES_INDEX_PREFIX": "",
    "FERROTRACE_ES_INDEX_DATE_SEPARATOR": "-",
    "FERROTRACE_ES_TAGS_AS_FIELDS_DOT_REPLACEMENT": "@",
}
# Jaeger's own defaults where the config leaves a key out.
JAEGER_DOT_REPLACEMENT = "@"
# Keys Jaeger v2.20 reads; None: a subtree not checked key by key
# (OpenTelemetry Collector server/client settings, the health check).
TLS = {k: None for k in (
    "ca_file", "ca_pem", "include_system_ca_certs_pool", "cert_file", "cert_pem", "key_file",
    "key_pem", "min_version", "max_version", "cipher_suites", "curve_preferences",
    "reload_interval", "insecure", "insecure_skip_verify", "server_name_override", "tpm")}
ALIASES = {"read_alias": None, "write_alias": None}
INDEX_OPTIONS = {
    "priority": None, "date_layout": None, "shards": None, "replicas": None,
    "rollover_frequency": None,
    "rotation": {
        "periodic": {"date_layout": None, "rollover_frequency": None},
        "manual_rollover": ALIASES,
        "auto_rollover": dict(ALIASES, policy_name=None),
        "data_stream": {"policy_name": None, "policy_file": None, "read_alias": None},
    },
}
ELASTICSEARCH = {
    "server_urls": None, "remote_read_clusters": None,
    "auth": {
        "basic": {"username": None, "password": None, "password_file": None, "reload_interval": None},
        "bearer_token": {"file_path": None, "from_context": None, "reload_interval": None},
        "api_key": {"file_path": None, "from_context": None, "reload_interval": None},
        "authenticator": None,
    },
    "tls": TLS, "sniffing": {"enabled": None, "use_https": None},
    "disable_health_check": None, "health_check_timeout_startup": None, "send_get_body_as": None,
    "query_timeout": None, "http_compression": None, "custom_headers": None,
    "bulk_processing": {"max_bytes": None, "max_actions": None, "flush_interval": None, "workers": None},
    "version": None, "log_level": None,
    "indices": {"index_prefix": None, "spans": INDEX_OPTIONS, "services": INDEX_OPTIONS,
                "dependencies": INDEX_OPTIONS, "sampling": INDEX_OPTIONS},
    "use_aliases": None, "span_read_alias": None, "span_write_alias": None,
    "service_read_alias": None, "service_write_alias": None, "use_ilm": None,
    "create_mappings": None, "max_doc_count": None, "max_span_age": None,
    "max_trace_duration": None, "service_cache_ttl": None, "adaptive_sampling_lookback": None,
    "tags_as_fields": {"all": None, "dot_replacement": None, "config_file": None, "include": None},
}
# Rejected by Jaeger 2.20 unless a feature gate is turned off.
LEGACY_ROTATION = ("use_aliases", "use_ilm", "span_read_alias", "span_write_alias",
                   "service_read_alias", "service_write_alias")
JAEGER_QUERY = {
    "storage": {"traces": None, "traces_archive": None, "metrics": None},
    "ui": {"config_file": None, "assets_path": None, "log_access": None},
    "base_path": None, "bearer_token_propagation": None, "header_forwarding": None,
    "multi_tenancy": None, "max_clock_skew_adjust": None, "max_trace_size": None,
    "enable_tracing": None, "http": None, "grpc": None, "ai": None, "query_interceptors": None,
}
JAEGER_STORAGE = {"backends": None, "metric_backends": None}
TRUE, FALSE = {"true", "t", "yes", "y", "on", "1"}, {"false", "f", "no", "n", "off", "0", ""}

problems = []


def problem(text):
    problems.append(text)


def load(path):
    with open(path) as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]


def find(docs, kind, name):
    for d in docs:
        if d.get("kind") == kind and d.get("metadata", {}).get("name") == name:
            return d
    raise SystemExit(f"check-jaeger-query: no {kind}/{name}")


def unknown_keys(node, schema, where):
    if schema is None or not isinstance(node, dict):
        return
    for key, value in node.items():
        if key not in schema:
            problem(f"{where}.{key}: not a key Jaeger v2 reads")
        else:
            unknown_keys(value, schema[key], f"{where}.{key}")


def boolean(name, value):
    v = str(value).strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    problem(f"{name}={value!r}: not a boolean")
    return False


def hours(duration):
    """A Go duration (`168h`, `72h30m`) in hours."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s|ms)", str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        problem(f"max_span_age {duration!r}: not a Go duration")
        return 0.0
    scale = {"h": 1, "m": 1 / 60, "s": 1 / 3600, "ms": 1 / 3600000}
    return sum(float(n) * scale[u] for n, u in parts)


# The ingester's settings.
configmap = find(load(f"{BASE}/configmap.yaml"), "ConfigMap", "ferrotrace")
ingester = find(load(f"{BASE}/ingester-deployment.yaml"), "Deployment", "ferrotrace-ingester")
container = ingester["spec"]["template"]["spec"]["containers"][0]
env = dict(INGESTER_DEFAULTS)
env.update({k: str(v) for k, v in (configmap.get("data") or {}).items()})
env.update({e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e})
username_ref = next((e["valueFrom"]["secretKeyRef"] for e in container.get("env") or []
                     if e["name"] == "FERROTRACE_ES_USERNAME" and "valueFrom" in e), None)
retention = find(load(f"{BASE}/cronjob-retention.yaml"), "CronJob", "ferrotrace-retention")
cleaner = retention["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
words = list(cleaner.get("command") or []) + list(cleaner.get("args") or [])
keep = next((w.split("=", 1)[1] for w in words if w.startswith("--keep-days=")), None)
if keep is None and "--keep-days" in words[:-1]:
    keep = words[words.index("--keep-days") + 1]
keep = keep or next((str(e.get("value")) for e in cleaner.get("env") or []
                     if e["name"] == "FERROTRACE_RETENTION_KEEP_DAYS"), None)
if keep is None or not keep.isdigit():
    raise SystemExit(f"check-jaeger-query: CronJob/ferrotrace-retention: no --keep-days found ({keep!r})")
keep_days = int(keep)

# Jaeger's.
query_cm = find(load(f"{QUERY}/jaeger-query-config.yaml"), "ConfigMap", "jaeger-query")
try:
    config = yaml.load(query_cm["data"]["config.yaml"], Loader=StrictLoader)
except yaml.YAMLError as e:
    raise SystemExit(f"check-jaeger-query: ConfigMap/jaeger-query config.yaml does not parse: {e}")
deployment = find(load(f"{QUERY}/jaeger-query-deployment.yaml"), "Deployment", "jaeger-query")
pod = deployment["spec"]["template"]["spec"]
jaeger = pod["containers"][0]

def traces_storage(config, name):
    """Checks the keys of a Jaeger v2 config and returns its traces backend:
    (kind, settings, where)."""
    unknown_keys(config, {"service": None, "extensions": None, "receivers": None,
                          "processors": None, "exporters": None, "connectors": None}, name)
    extensions = config.get("extensions") or {}
    for ext in ("jaeger_storage", "jaeger_query", "healthcheckv2"):
        if ext not in extensions or ext not in (config.get("service") or {}).get("extensions", []):
            problem(f"{name}: extension {ext} not configured and listed in service.extensions")
    unknown_keys(extensions.get("jaeger_query"), JAEGER_QUERY, f"{name}: extensions.jaeger_query")
    unknown_keys(extensions.get("jaeger_storage"), JAEGER_STORAGE, f"{name}: extensions.jaeger_storage")
    traces = ((extensions.get("jaeger_query") or {}).get("storage") or {}).get("traces")
    backend = ((extensions.get("jaeger_storage") or {}).get("backends") or {}).get(traces) or {}
    if len(backend) != 1 or next(iter(backend)) not in ("elasticsearch", "opensearch"):
        raise SystemExit(f"check-jaeger-query: {name}: jaeger_query.storage.traces ({traces!r}) names no "
                         "jaeger_storage backend of exactly one of elasticsearch, opensearch")
    kind, es = next(iter(backend.items()))
    where = f"{name}: jaeger_storage.backends.{traces}.{kind}"
    unknown_keys(es, ELASTICSEARCH, where)
    return kind, es, where


extensions = config.get("extensions") or {}
kind, es, where = traces_storage(config, "config.yaml")
for key in LEGACY_ROTATION:
    if key in es:
        problem(f"{where}.{key}: rejected by Jaeger 2.20; use indices.<kind>.rotation")

# Index prefix: both sides join it with one `-` (none when it ends with one).
indices = es.get("indices") or {}
prefix = env["FERROTRACE_ES_INDEX_PREFIX"]
jaeger_prefix = str(indices.get("index_prefix") or "")
if jaeger_prefix.rstrip("-") != prefix.rstrip("-"):
    problem(f"{where}.indices.index_prefix is {jaeger_prefix!r}, the ingester's "
            f"FERROTRACE_ES_INDEX_PREFIX {prefix!r}")

# Daily indices or rollover aliases, for each kind the ingester writes.
aliases = boolean("FERROTRACE_ES_USE_ALIASES", env.get("FERROTRACE_ES_USE_ALIASES", "false"))
sep = env["FERROTRACE_ES_INDEX_DATE_SEPARATOR"]
layout = f"2006{sep}01{sep}02"
for kind_name, base in (("spans", "jaeger-span"), ("services", "jaeger-service"),
                        ("dependencies", "jaeger-dependencies")):
    options = indices.get(kind_name) or {}
    rotation = options.get("rotation") or {}
    at = f"{where}.indices.{kind_name}"
    if aliases:
        manual = rotation.get("manual_rollover")
        if "manual_rollover" not in rotation:
            problem(f"{at}.rotation: FERROTRACE_ES_USE_ALIASES is on, so `manual_rollover: {{}}` "
                    f"(the ingester writes through {base}-write, Jaeger must read {base}-read)")
        else:
            stem = (prefix.rstrip("-") + "-" if prefix else "") + base
            for alias, expected in (("read_alias", f"{stem}-read"), ("write_alias", f"{stem}-write")):
                if (manual or {}).get(alias) not in (None, expected):
                    problem(f"{at}.rotation.manual_rollover.{alias} is {manual[alias]!r}, "
                            f"the ingester's alias is {expected!r}")
    else:
        periodic = rotation.get("periodic")
        other = [k for k in rotation if k != "periodic"]
        if other:
            problem(f"{at}.rotation.{other[0]}: the ingester writes daily indices "
                    "(FERROTRACE_ES_USE_ALIASES is off)")
        periodic = periodic or {}
        got = periodic.get("date_layout") or options.get("date_layout") or "2006-01-02"
        if got != layout:
            problem(f"{at}: date_layout {got!r}, the ingester's FERROTRACE_ES_INDEX_DATE_SEPARATOR "
                    f"{sep!r} makes {layout!r}")
        freq = periodic.get("rollover_frequency") or options.get("rollover_frequency") or "day"
        if freq != "day":
            problem(f"{at}: rollover_frequency {freq!r}, the ingester writes one index a day")

# Tags as fields.
tags = es.get("tags_as_fields") or {}
want_all = boolean("FERROTRACE_ES_TAGS_AS_FIELDS_ALL", env.get("FERROTRACE_ES_TAGS_AS_FIELDS_ALL", "false"))
if bool(tags.get("all", False)) != want_all:
    problem(f"{where}.tags_as_fields.all is {bool(tags.get('all', False))}, the ingester's "
            f"FERROTRACE_ES_TAGS_AS_FIELDS_ALL {want_all}")
split = lambda s: sorted(k.strip() for k in str(s or "").split(",") if k.strip())
if split(tags.get("include")) != split(env.get("FERROTRACE_ES_TAGS_AS_FIELDS_INCLUDE")):
    problem(f"{where}.tags_as_fields.include is {split(tags.get('include'))}, the ingester's "
            f"FERROTRACE_ES_TAGS_AS_FIELDS_INCLUDE {split(env.get('FERROTRACE_ES_TAGS_AS_FIELDS_INCLUDE'))}")
if bool(tags.get("config_file")) != bool(env.get("FERROTRACE_ES_TAGS_AS_FIELDS_CONFIG_FILE")):
    problem(f"{where}.tags_as_fields.config_file and the ingester's "
            "FERROTRACE_ES_TAGS_AS_FIELDS_CONFIG_FILE: set one, set both (the same keys)")
dot = str(tags.get("dot_replacement", JAEGER_DOT_REPLACEMENT))
if dot != env["FERROTRACE_ES_TAGS_AS_FIELDS_DOT_REPLACEMENT"]:
    problem(f"{where}.tags_as_fields.dot_replacement is {dot!r}, the ingester's "
            f"FERROTRACE_ES_TAGS_AS_FIELDS_DOT_REPLACEMENT {env['FERROTRACE_ES_TAGS_AS_FIELDS_DOT_REPLACEMENT']!r}")

# How far back a search looks, against what retention keeps (--keep-days
# days before today, plus today).
age = hours(es.get("max_span_age", "72h"))
if not keep_days * 24 <= age <= (keep_days + 1) * 24:
    problem(f"{where}.max_span_age is {age:g}h; the retention CronJob keeps {keep_days} days "
            f"besides today: set {keep_days * 24}h (searches would miss kept traces, or look for deleted ones)")

# Elasticsearch, credentials and CA: the ingester's.
urls = [u.strip() for u in env.get("FERROTRACE_ES_URL", "").split(",") if u.strip()]
if list(es.get("server_urls") or []) != urls:
    problem(f"{where}.server_urls is {es.get('server_urls')}, the ingester's FERROTRACE_ES_URL {urls}")
basic = (es.get("auth") or {}).get("basic") or {}
if basic.get("password_file") != env.get("FERROTRACE_ES_PASSWORD_FILE"):
    problem(f"{where}.auth.basic.password_file is {basic.get('password_file')!r}, the ingester's "
            f"FERROTRACE_ES_PASSWORD_FILE {env.get('FERROTRACE_ES_PASSWORD_FILE')!r}")
if (es.get("tls") or {}).get("ca_file") != env.get("FERROTRACE_ES_TLS_CA"):
    problem(f"{where}.tls.ca_file is {(es.get('tls') or {}).get('ca_file')!r}, the ingester's "
            f"FERROTRACE_ES_TLS_CA {env.get('FERROTRACE_ES_TLS_CA')!r}")
m = re.fullmatch(r"\$\{env:(\w+)\}", str(basic.get("username", "")))
ref = next((e["valueFrom"].get("secretKeyRef") for e in jaeger.get("env") or []
            if m and e["name"] == m.group(1) and "valueFrom" in e), None)
if ref != username_ref:
    problem(f"{where}.auth.basic.username: not ${{env:VAR}} with VAR from the ingester's Secret key {username_ref}")


def mount_of(pod, container, volume_pred):
    names = {v["name"] for v in pod.get("volumes") or [] if volume_pred(v)}
    return next((m["mountPath"] for m in container.get("volumeMounts") or [] if m["name"] in names), None)


es_secret = lambda v: (v.get("secret") or {}).get("secretName") == "ferrotrace-es"
ingester_dir = mount_of(ingester["spec"]["template"]["spec"], container, es_secret)
jaeger_dir = mount_of(pod, jaeger, es_secret)
if jaeger_dir != ingester_dir:
    problem(f"Deployment/jaeger-query mounts Secret ferrotrace-es at {jaeger_dir}, the ingester at {ingester_dir}")
config_dir = mount_of(pod, jaeger, lambda v: (v.get("configMap") or {}).get("name") == "jaeger-query")
if f"--config={config_dir}/config.yaml" not in jaeger.get("args", []):
    problem(f"Deployment/jaeger-query: args {jaeger.get('args')} do not read {config_dir}/config.yaml")

# Listeners, ports and probes agree.
ports = {p["name"]: p["containerPort"] for p in jaeger.get("ports") or []}
health = (extensions.get("healthcheckv2") or {}).get("http") or {}
query = extensions.get("jaeger_query") or {}
for at, endpoint, port in (
        ("jaeger_query.http", (query.get("http") or {}).get("endpoint"), "http-query"),
        ("jaeger_query.grpc", (query.get("grpc") or {}).get("endpoint"), "grpc-query"),
        ("healthcheckv2.http", health.get("endpoint"), "health")):
    if not str(endpoint or "").startswith("0.0.0.0:") or str(endpoint).rsplit(":", 1)[1] != str(ports.get(port)):
        problem(f"config.yaml: extensions.{at}.endpoint is {endpoint!r}, the container port {port} "
                f"is {ports.get(port)} (and must listen on 0.0.0.0)")
status = (health.get("status") or {})
for probe in ("readinessProbe", "livenessProbe"):
    get = (jaeger.get(probe) or {}).get("httpGet") or {}
    if get.get("port") != "health" or not status.get("enabled") or get.get("path") != status.get("path"):
        problem(f"Deployment/jaeger-query: {probe} is not GET {status.get('path')} on port health "
                "(healthcheckv2.http.status, enabled)")


# docker-compose.yml's Jaeger Query: the same keys, the compose
# Elasticsearch the ingesters write to, and the Monitor tab on the compose
# Prometheus with the normalized names the ingesters export.
COMPOSE_CONFIG = "deploy/jaeger-query/config.yaml"
with open("docker-compose.yml") as f:
    compose = yaml.load(f, Loader=StrictLoader)
compose_query = (compose.get("services") or {}).get("jaeger-query") or {}
if f"--config=/etc/jaeger/config.yaml" not in (compose_query.get("command") or []) or not any(
        str(v).startswith(f"./{COMPOSE_CONFIG}:/etc/jaeger/config.yaml") for v in compose_query.get("volumes") or []):
    problem(f"docker-compose.yml: jaeger-query does not run with ./{COMPOSE_CONFIG} as /etc/jaeger/config.yaml")
with open(COMPOSE_CONFIG) as f:
    compose_config = yaml.load(f, Loader=StrictLoader)
_, compose_es, compose_where = traces_storage(compose_config, COMPOSE_CONFIG)
compose_urls = sorted({str(s["environment"]["FERROTRACE_ES_URL"])
                       for s in (compose.get("services") or {}).values()
                       if isinstance(s.get("environment"), dict) and "FERROTRACE_ES_URL" in s["environment"]})
if list(compose_es.get("server_urls") or []) != compose_urls:
    problem(f"{compose_where}.server_urls is {compose_es.get('server_urls')}, the ingesters' {compose_urls}")
compose_ext = compose_config.get("extensions") or {}
metrics = ((compose_ext.get("jaeger_query") or {}).get("storage") or {}).get("metrics")
metric_backend = (((compose_ext.get("jaeger_storage") or {}).get("metric_backends") or {})
                  .get(metrics) or {}).get("prometheus") or {}
if metric_backend.get("endpoint") != "http://prometheus:9090" or "prometheus" not in (compose.get("services") or {}):
    problem(f"{COMPOSE_CONFIG}: jaeger_query.storage.metrics ({metrics!r}) is not a prometheus "
            "metric backend at http://prometheus:9090, the compose Prometheus")
for key in ("normalize_calls", "normalize_duration"):
    if metric_backend.get(key) is not True:
        problem(f"{COMPOSE_CONFIG}: the prometheus metric backend needs {key}: true "
                "(the ingesters export traces_span_metrics_calls_total and _duration_milliseconds)")

if problems:
    print("check-jaeger-query: " + "\ncheck-jaeger-query: ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"check-jaeger-query: Jaeger Query reads what the ingester writes: prefix {prefix!r}, "
      + ("rollover aliases" if aliases else f"daily indices ({layout})")
      + f", tags as fields all={want_all} include={split(env.get('FERROTRACE_ES_TAGS_AS_FIELDS_INCLUDE'))} "
      f"dot {dot!r}, max_span_age {age:g}h for {keep_days} days of retention, same URLs, Secret and CA")
