"""Checks docker-compose.yml without a Docker engine (run by check-deploy.sh).

usage: check-compose.py COMPOSE_FILE COMPOSE_SCHEMA_JSON

- The file parses as YAML with no duplicate keys, and needs no variables from
  the environment (every `$` is escaped as `$$`).
- After YAML anchors and merge keys are resolved, it validates against the
  Compose specification JSON schema.
- What the schema cannot see: every depends_on target exists and can satisfy
  its condition (a healthcheck for service_healthy, `restart: "no"` for
  service_completed_successfully); services that always start do not depend
  on services under a profile; named volumes are declared; host ports are
  not published twice; images are pinned to a version.
- Everything taken from this repository exists: build contexts and
  Dockerfiles, bind-mounted files and directories.
- The Prometheus config scrapes services that exist on the ports their
  commands listen on, and loads the mounted alert rules; the Grafana
  datasources point at services that exist.
"""
import os
import re
import sys

import jsonschema
import yaml

from strict_yaml import StrictLoader

compose_path, schema_path = sys.argv[1], sys.argv[2]
base = os.path.dirname(os.path.abspath(compose_path))
problems = []

# Admin (metrics) ports of the ferrotrace binaries, by command.
ADMIN_PORTS = {"ferrotrace-collector": 14269, "ferrotrace-ingester": 14270}


def load_yaml(path):
    try:
        with open(path) as f:
            return yaml.load(f, Loader=StrictLoader)
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"{path}: does not parse: {e}")
        return None


def unescape(value, where):
    """Compose's interpolation: `$$` is a literal `$`; anything else needs a variable."""
    if isinstance(value, dict):
        return {k: unescape(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [unescape(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        if re.search(r"(?<!\$)\$(?!\$)", value.replace("$$", "")):
            problems.append(f"{where}: uses a variable ({value!r}); escape `$` as `$$`")
        return value.replace("$$", "$")
    return value


raw = load_yaml(compose_path)
if not isinstance(raw, dict):
    problems.append(f"{compose_path}: not a mapping")
    raw = {}
compose = unescape(raw, "")

with open(schema_path) as f:
    schema = yaml.safe_load(f)
validator = jsonschema.Draft201909Validator(schema)
for error in sorted(validator.iter_errors(compose), key=lambda e: list(e.path)):
    where = ".".join(str(p) for p in error.path) or "(top)"
    problems.append(f"{compose_path}: {where}: {error.message}")

services = compose.get("services") or {}
volumes = set((compose.get("volumes") or {}).keys())


def repo_path(ref):
    return os.path.normpath(os.path.join(base, ref))


def listen_port(service):
    command = service.get("entrypoint") or service.get("command") or []
    binary = command[0] if isinstance(command, list) and command else ""
    return ADMIN_PORTS.get(binary)


published = {}
for name, service in services.items():
    if not isinstance(service, dict):
        continue
    image = service.get("image", "")
    build = service.get("build")
    if build is None and not re.search(r":[^/:]+$", image or "") or (image or "").endswith(":latest"):
        problems.append(f"services.{name}: image {image!r} is not pinned to a version")
    if isinstance(build, dict):
        context = repo_path(build.get("context", "."))
        dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
        if not os.path.isdir(context):
            problems.append(f"services.{name}: build context {build.get('context')} does not exist")
        elif not os.path.isfile(dockerfile):
            problems.append(f"services.{name}: {os.path.relpath(dockerfile, base)} does not exist")
    for volume in service.get("volumes") or []:
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith((".", "/")):
            if not os.path.exists(repo_path(source)):
                problems.append(f"services.{name}: mounts {source}, which does not exist")
        elif source and source not in volumes:
            problems.append(f"services.{name}: uses volume {source}, which is not declared")
    for port in service.get("ports") or []:
        text = str(port)
        host = text.rsplit(":", 1)[0] if ":" in text else None
        if host:
            key = (host, "udp" if text.endswith("/udp") else "tcp")
            if key in published:
                problems.append(f"services.{name}: host port {host} is also published by {published[key]}")
            published[key] = name
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        depends = {d: {"condition": "service_started"} for d in depends}
    for target, how in depends.items():
        other = services.get(target)
        if not isinstance(other, dict):
            problems.append(f"services.{name}: depends on {target}, which is not a service")
            continue
        condition = (how or {}).get("condition")
        check = other.get("healthcheck") or {}
        if condition == "service_healthy" and (not check.get("test") or check.get("disable")):
            problems.append(f"services.{name}: waits for {target} to be healthy, but it has no healthcheck")
        if condition == "service_completed_successfully" and other.get("restart", "no") != "no":
            problems.append(f"services.{name}: waits for {target} to complete, but it restarts ({other.get('restart')})")
        if other.get("profiles") and not service.get("profiles"):
            problems.append(f"services.{name}: always starts but depends on {target}, which is under profiles {other['profiles']}")

# Prometheus: every target is a service whose ferrotrace command listens there.
for name, service in services.items():
    if not isinstance(service, dict) or not str(service.get("image", "")).startswith("prom/prometheus"):
        continue
    mounts = {}
    for volume in service.get("volumes") or []:
        parts = volume.split(":")
        if parts[0].startswith("."):
            mounts[parts[1]] = repo_path(parts[0])
    config_path = mounts.get("/etc/prometheus/prometheus.yml")
    if not config_path:
        problems.append(f"services.{name}: prometheus.yml is not mounted from the repository")
        continue
    config = load_yaml(config_path) or {}
    for rules in config.get("rule_files") or []:
        if rules not in mounts:
            problems.append(f"{os.path.relpath(config_path, base)}: loads {rules}, which is not mounted")
    jobs = 0
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, port = target.rsplit(":", 1)
                if host == "localhost":
                    continue
                scraped = services.get(host)
                if not isinstance(scraped, dict):
                    problems.append(f"{os.path.relpath(config_path, base)}: job {job['job_name']} scrapes {host}, which is not a service")
                elif listen_port(scraped) != int(port):
                    problems.append(f"{os.path.relpath(config_path, base)}: job {job['job_name']} scrapes {target}, but {host}'s admin port is {listen_port(scraped)}")
                jobs += 1
    ferrotrace = {n for n, s in services.items() if isinstance(s, dict) and listen_port(s) and not s.get("profiles")}
    scraped = {t.rsplit(":", 1)[0] for j in config.get("scrape_configs") or [] for s in j.get("static_configs") or [] for t in s.get("targets") or []}
    if ferrotrace - scraped:
        problems.append(f"{os.path.relpath(config_path, base)}: does not scrape {', '.join(sorted(ferrotrace - scraped))}")

# Grafana: the provisioned datasources point at services of this file.
for path in sorted(os.listdir(os.path.join(base, "deploy/grafana/provisioning/datasources"))):
    full = os.path.join(base, "deploy/grafana/provisioning/datasources", path)
    for source in (load_yaml(full) or {}).get("datasources") or []:
        host = re.match(r"https?://([^:/]+)", source.get("url", ""))
        if not host or host.group(1) not in services:
            problems.append(f"{os.path.relpath(full, base)}: datasource {source.get('name')} points at {source.get('url')}, not a service")

if problems:
    print("check-compose: " + "\ncheck-compose: ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"check-compose: {compose_path}: {len(services)} services valid against the Compose specification schema; "
      "dependencies, volumes, ports, repository files, Prometheus targets and Grafana datasources consistent")
