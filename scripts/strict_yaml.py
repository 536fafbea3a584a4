"""A PyYAML loader for the deployment checks (check-compose.py, check-k8s.sh):
it rejects duplicate keys, which YAML parsers (and kubectl, and Compose)
silently resolve to the last one, hiding an edit that has no effect.
Keys merged in with `<<: *anchor` may be overridden, as YAML intends."""
import yaml


class StrictLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader, node, deep=False):
    keys = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
