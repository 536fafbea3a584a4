#!/usr/bin/env bash
# Checks the Kubernetes manifests in k8s/ without a cluster:
#   - every built-in kind is validated against the Kubernetes 1.30 JSON schema
#     in strict mode (unknown fields are errors), with the PyPI package
#     kubernetes-validate, which bundles the schemas;
#   - CRD kinds (ServiceMonitor, PodMonitor, ScaledObject) are only parsed and
#     checked for apiVersion, kind and metadata.name: their schemas belong to
#     the operators and are not bundled;
#   - the PrometheusRule in k8s/monitoring/ holds exactly the groups of
#     deploy/prometheus/alerts.yaml;
#   - every kustomization's resources and components exist, every YAML file
#     under k8s/ is listed by some kustomization, and the base
#     (k8s/base/kustomization.yaml) holds built-in kinds only, so
#     `kubectl apply -k k8s/` works without any CRD;
#   - each patch of a kustomize Component (k8s/components/) names an object of
#     the base, and that object with the patch merged in (lists of named
#     entries merged by name, as a strategic merge patch does for containers,
#     env and volumes) is valid in strict mode: a patch alone is no object;
#   - every Grafana dashboard in deploy/grafana/dashboards/ is in the
#     k8s/dashboards/ ConfigMap;
#   - with kubectl on PATH, each kustomization is also rendered and the output
#     validated the same way;
#   - Jaeger Query (k8s/jaeger-query/) reads what the ingester writes: its
#     Jaeger v2 config uses only keys Jaeger reads, and its index prefix,
#     daily indices or rollover aliases, tags-as-fields, max_span_age,
#     Elasticsearch URLs and credentials agree with the ingester's; and
#     docker-compose.yml's Jaeger Query (deploy/jaeger-query/config.yaml)
#     reads the compose Elasticsearch and Prometheus
#     (scripts/check-jaeger-query.py).
# kubernetes-validate lives in the venv that scripts/deploy-venv.sh keeps.
set -euo pipefail

KUBERNETES_VERSION=1.30.0
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy-venv.sh
. "$here/scripts/deploy-venv.sh"

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
if command -v kubectl >/dev/null; then
  while IFS= read -r k; do
    dir=$(dirname "$k")
    out="$rendered/$(echo "${dir#k8s}" | tr / _)_.yaml"
    # A failure is reported with the other problems, after the file checks.
    # k8s/dashboards reads the JSON files in deploy/, outside its root (the
    # only one allowed to: the others must work with `kubectl apply -k`).
    restrictor=()
    if [ "$dir" = k8s/dashboards ]; then restrictor=(--load-restrictor LoadRestrictionsNone); fi
    # A Component is rendered only as part of a kustomization using it.
    if grep -q '^kind: Component' "$here/$k"; then continue; fi
    if kubectl kustomize "${restrictor[@]}" "$here/$dir" >"$out" 2>"$out.err"; then rm "$out.err"; else rm "$out"; fi
  done < <(cd "$here" && find k8s -name kustomization.yaml | sort)
fi

cd "$here"
"$DEPLOY_PYTHON" - "$KUBERNETES_VERSION" "$rendered" <<'PY'
import glob, os, sys
import kubernetes_validate
import yaml

sys.path.insert(0, "scripts")
from strict_yaml import StrictLoader

k8s_version, rendered_dir = sys.argv[1], sys.argv[2]
# Kinds whose schemas come with an operator's CRDs, not with Kubernetes.
CRD_GROUPS = ("monitoring.coreos.com/", "keda.sh/")
problems = []


def load(path):
    try:
        with open(path) as f:
            return [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"{path}: does not parse: {e}")
        return None


def is_crd(doc):
    return str(doc.get("apiVersion", "")).startswith(CRD_GROUPS)


def check_doc(path, doc):
    """Returns a short description of what was checked, or None on a problem."""
    if not isinstance(doc, dict):
        problems.append(f"{path}: a document is not a mapping")
        return None
    name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    if not doc.get("apiVersion") or not doc.get("kind") or not name:
        problems.append(f"{path}: a document lacks apiVersion, kind or metadata.name")
        return None
    what = f"{doc['kind']}/{name}"
    if is_crd(doc):
        return f"{what} (CRD kind: parsed, apiVersion/kind/metadata.name present; schema not checked)"
    try:
        kubernetes_validate.validate(doc, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.path) or "(top)"
        problems.append(f"{path}: {what}: {where}: {e.message}")
        return None
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
        problems.append(f"{path}: {what}: no Kubernetes {k8s_version} schema: {e}")
        return None
    return f"{what} (schema {k8s_version} strict: valid)"


files = sorted(glob.glob("k8s/**/*.yaml", recursive=True) + glob.glob("k8s/**/*.yml", recursive=True))
kustomizations = [f for f in files if os.path.basename(f) in ("kustomization.yaml", "kustomization.yml")]
BASE = "k8s/base/kustomization.yaml"
for required in ("k8s/kustomization.yaml", BASE):
    if required not in kustomizations:
        problems.append(f"{required} is missing")


def has_kustomization(directory):
    return any(os.path.exists(os.path.join(directory, n)) for n in ("kustomization.yaml", "kustomization.yml"))


def merge(base, patch):
    """A strategic merge patch, as far as these manifests need: mappings merge
    key by key, lists of named mappings merge by name, other lists replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    named = lambda items: isinstance(items, list) and all(isinstance(i, dict) and "name" in i for i in items)
    if named(base) and named(patch):
        out = list(base)
        for item in patch:
            at = next((n for n, b in enumerate(out) if b["name"] == item["name"]), None)
            if at is None:
                out.append(item)
            else:
                out[at] = merge(out[at], item)
        return out
    return patch


component_patches = []  # (component kustomization, patch file)

listed = set()
for k in kustomizations:
    docs = load(k)
    if not docs:
        continue
    spec, base = docs[0], os.path.dirname(k)
    component = spec.get("kind") == "Component"
    refs = list(spec.get("resources") or [])
    for patch in spec.get("patches") or []:
        if component and isinstance(patch, dict) and "path" in patch:
            refs.append(patch["path"])
            component_patches.append((k, os.path.normpath(os.path.join(base, patch["path"]))))
    for ref in spec.get("components") or []:
        target = os.path.normpath(os.path.join(base, ref))
        if not has_kustomization(target):
            problems.append(f"{k}: lists component {ref}, not a directory with a kustomization")
    for gen in spec.get("configMapGenerator") or []:
        refs += [f.split("=", 1)[-1] for f in gen.get("files") or []]
    bad = 0
    for ref in refs:
        target = os.path.normpath(os.path.join(base, ref))
        if os.path.isdir(target):
            if not has_kustomization(target):
                problems.append(f"{k}: lists {ref}, a directory without a kustomization"); bad += 1
        elif not os.path.isfile(target):
            problems.append(f"{k}: lists {ref}, which does not exist"); bad += 1
        else:
            listed.add(target)
            if k == BASE and target.endswith((".yaml", ".yml")):
                for doc in load(target) or []:
                    if isinstance(doc, dict) and is_crd(doc):
                        problems.append(f"{k}: lists {ref}, a {doc.get('kind')}: the base must apply without CRDs")
                        bad += 1
    if not component and not spec.get("namespace"):
        problems.append(f"{k}: sets no namespace"); bad += 1
    if not bad:
        print(f"check-k8s: {k}: {len(refs)} entries, all exist " + ("(Component)" if component else f"(namespace {spec.get('namespace')})"))

for d in sorted(glob.glob("deploy/grafana/dashboards/*.json")):
    if d not in listed:
        problems.append(f"{d}: not in k8s/dashboards/kustomization.yaml's configMapGenerator")

patch_files = {patch for _, patch in component_patches}
base_objects = {}
for f in files:
    if f.startswith("k8s/base/") and f not in kustomizations:
        for d in load(f) or []:
            if isinstance(d, dict) and isinstance(d.get("metadata"), dict):
                base_objects[(d.get("kind"), d["metadata"].get("name"))] = d
for k, f in component_patches:
    for patch in load(f) or []:
        if not isinstance(patch, dict) or not isinstance(patch.get("metadata"), dict):
            problems.append(f"{f}: a patch lacks kind or metadata")
            continue
        key = (patch.get("kind"), patch["metadata"].get("name"))
        if key not in base_objects:
            problems.append(f"{f}: patches {key[0]}/{key[1]}, which the base does not have")
            continue
        result = check_doc(f"{f} merged into the base", merge(base_objects[key], patch))
        if result:
            print(f"check-k8s: {f}: {result}, once merged into the base")

for f in files:
    if f in kustomizations:
        continue
    if f not in listed:
        problems.append(f"{f}: not listed in any kustomization.yaml")
    if f in patch_files:
        continue
    docs = load(f)
    if docs is None:
        continue
    if not docs:
        problems.append(f"{f}: holds no document")
    results = [check_doc(f, d) for d in docs]
    if all(results):
        print(f"check-k8s: {f}: " + "; ".join(results))

# The PrometheusRule carries exactly the rules of deploy/prometheus/alerts.yaml.
alerts = (load("deploy/prometheus/alerts.yaml") or [{}])[0]
rules = [d for f in files for d in load(f) or [] if isinstance(d, dict) and d.get("kind") == "PrometheusRule"]
if not rules:
    problems.append("k8s/: no PrometheusRule carries deploy/prometheus/alerts.yaml")
for rule in rules:
    if (rule.get("spec") or {}).get("groups") != alerts.get("groups"):
        problems.append(f"PrometheusRule/{rule['metadata'].get('name')}: spec.groups differ from deploy/prometheus/alerts.yaml; "
                        "regenerate it (see the comment at its top)")
    else:
        print(f"check-k8s: PrometheusRule/{rule['metadata'].get('name')}: same {len(alerts['groups'])} groups as deploy/prometheus/alerts.yaml")

# What `kubectl kustomize` renders (only when kubectl is on PATH).
renders = sorted(glob.glob(os.path.join(rendered_dir, "*.yaml")))
for e in sorted(glob.glob(os.path.join(rendered_dir, "*.yaml.err"))):
    name = "k8s" + os.path.basename(e)[:-len("_.yaml.err")].replace("_", "/") + "/"
    problems.append(f"kubectl kustomize {name} failed: {open(e).read().strip()}")
if not renders and not glob.glob(os.path.join(rendered_dir, "*.err")):
    print("check-k8s: kubectl not on PATH: kustomize output not rendered (the files above were checked one by one)")
for r in renders:
    name = "k8s" + os.path.basename(r)[:-len("_.yaml")].replace("_", "/") + "/"
    docs = load(r) or []
    results = [check_doc(f"kubectl kustomize {name}", d) for d in docs]
    wrong = [f"{d.get('kind')}/{d['metadata'].get('name')}" for d in docs
             if d.get("kind") != "Namespace" and d.get("metadata", {}).get("namespace") != "ferrotrace"]
    if wrong:
        problems.append(f"kubectl kustomize {name}: not in namespace ferrotrace: {', '.join(wrong)}")
    images = set()
    for d in docs:
        pod = (d.get("spec") or {}).get("template") or ((d.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get("template")
        for c in ((pod or {}).get("spec") or {}).get("containers") or []:
            images.add(c.get("image"))
    # Jaeger Query runs Jaeger's image; every other container ferrotrace's.
    if {i for i in images if not i.startswith("jaegertracing/jaeger:")} - {"ferrotrace:latest"}:
        problems.append(f"kubectl kustomize {name}: images {sorted(images)}, expected ferrotrace:latest "
                        "(and jaegertracing/jaeger for Jaeger Query) only")
    if all(results) and not wrong:
        print(f"check-k8s: kubectl kustomize {name}: {len(docs)} objects valid, namespace ferrotrace"
              + (f", image {', '.join(sorted(images))}" if images else ""))

if problems:
    print("check-k8s: " + "\ncheck-k8s: ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"check-k8s: {len(files)} files in k8s/ valid")
PY
"$DEPLOY_PYTHON" scripts/check-jaeger-query.py
