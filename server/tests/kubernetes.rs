//! `wick deploy k8s`: the manifests it writes validate against the
//! Kubernetes OpenAPI schemas (kubernetes-validate from PyPI, strict) and
//! KServe's CRD schemas (pinned in tests/fixtures/kserve), and say what a
//! replica needs: probes on /readyz and /healthz, a grace period longer
//! than Wick's drain, non-root on a read-only root, feedback from a Secret.

mod common;

use common::{minilm_dir, output_of, run_python, test_script, wick};

/// The Kubernetes version the manifests are checked against.
const KUBERNETES: &str = "1.33.0";

#[test]
fn the_manifests_validate_and_carry_what_a_replica_needs() {
    let out = tempfile::tempdir().unwrap();
    let printed = output_of(
        wick()
            .args(["deploy", "k8s"])
            .arg(out.path())
            .arg(minilm_dir())
            .args([
                "--image",
                "registry.example/wick-minilm:1.0.0",
                "--replicas",
                "3",
            ]),
    );
    assert!(printed.contains("kubernetes.yaml"), "{printed}");
    let fixtures = test_script("fixtures/kserve");
    run_python(&[
        test_script("validate_manifests.py").as_os_str(),
        out.path().as_os_str(),
        fixtures.as_os_str(),
        KUBERNETES.as_ref(),
    ]);
    let kubernetes = std::fs::read_to_string(out.path().join("kubernetes.yaml")).unwrap();
    for needed in [
        "image: \"registry.example/wick-minilm:1.0.0\"",
        "replicas: 3",
        "path: /readyz",
        "path: /healthz",
        "terminationGracePeriodSeconds: 30",
        "- --drain-secs",
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "name: \"minilm-feedback\"",
        "prometheus.io/scrape: \"true\"",
        "- \"bundles/minilm\"",
    ] {
        assert!(
            kubernetes.contains(needed),
            "kubernetes.yaml lacks {needed}"
        );
    }
    let kserve = std::fs::read_to_string(out.path().join("kserve.yaml")).unwrap();
    for needed in [
        "- /mnt/models",
        "storageUri: \"pvc://wick-bundles/minilm\"",
        "protocolVersion: v2",
        "canaryTrafficPercent",
    ] {
        assert!(kserve.contains(needed), "kserve.yaml lacks {needed}");
    }
}
