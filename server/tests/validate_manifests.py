"""Validates what `wick deploy k8s` wrote: every object of kubernetes.yaml
against the Kubernetes OpenAPI schemas that kubernetes-validate (PyPI)
carries, strictly (an unknown field fails), and those of kserve.yaml
against KServe's own CRD schemas, pinned in tests/fixtures/kserve (from
kserve/kserve's config/crd/full, named in each file's `source`).

    validate_manifests.py OUT_DIR FIXTURES_DIR KUBERNETES_VERSION
"""
import gzip
import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

out, fixtures, version = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

kinds = []
for document in yaml.safe_load_all((out / "kubernetes.yaml").read_text()):
    kubernetes_validate.validate(document, version, strict=True)
    kinds.append(document["kind"])
assert kinds == ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"], kinds

schemas = {}
for path in fixtures.glob("*.schema.json.gz"):
    crd = json.loads(gzip.decompress(path.read_bytes()))
    schemas[(crd["group"] + "/" + crd["version"], crd["kind"])] = crd["openAPIV3Schema"]


def forbid_unknown(schema):
    """Strict, as for Kubernetes: CRD schemas list their fields; objects
    that do not say they keep unknown fields take no others."""
    if isinstance(schema, dict):
        if (schema.get("type") == "object" and "properties" in schema
                and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        for value in schema.values():
            forbid_unknown(value)
    elif isinstance(schema, list):
        for value in schema:
            forbid_unknown(value)


kinds = []
for document in yaml.safe_load_all((out / "kserve.yaml").read_text()):
    schema = schemas[(document["apiVersion"], document["kind"])]
    forbid_unknown(schema)
    # metadata is the API server's ObjectMeta, which the CRD leaves open.
    jsonschema.validate({k: v for k, v in document.items()}, schema)
    kinds.append(document["kind"])
assert kinds == ["ServingRuntime", "InferenceService"], kinds
print(f"manifests valid: Kubernetes {version} (strict) and KServe's CRD schemas")
