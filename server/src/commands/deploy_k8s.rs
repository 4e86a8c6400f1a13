//! `wick deploy k8s`: manifests to run many replicas of the Space image.
//!
//! - `kubernetes.yaml`: a Deployment (startup, readiness and liveness
//!   probes on `/readyz` and `/healthz`; non-root, read-only root file
//!   system, no privileges; a grace period longer than Wick's drain and
//!   request grace), a Service, a HorizontalPodAutoscaler on CPU, a
//!   PodDisruptionBudget, Prometheus scrape annotations, feedback in
//!   Postgres from a Secret.
//! - `kserve.yaml`: a ServingRuntime that runs Wick on the V2 protocol with
//!   the bundle KServe puts in `/mnt/models`, and an InferenceService that
//!   uses it.
//!
//! Templates rather than a YAML library: the files carry comments for the
//! person who applies them, and every value put in is quoted as JSON,
//! which YAML reads as a string.

use crate::cli::K8sArgs;
use crate::commands::deploy::{open_bundles, write};
use anyhow::Context;

/// The port of the Space image, and the one KServe expects.
const PORT: u16 = 7860;
const KSERVE_PORT: u16 = 8080;
/// SIGTERM → not ready, still serving (`--drain-secs`), then requests in
/// flight get `--shutdown-grace-secs`; the pod's grace period covers both.
const DRAIN_SECS: u64 = 5;
const REQUEST_GRACE_SECS: u64 = 20;
const POD_GRACE_SECS: u64 = DRAIN_SECS + REQUEST_GRACE_SECS + 5;

pub fn run(args: K8sArgs) -> anyhow::Result<()> {
    let bundles = open_bundles(&args.bundles)?;
    let first = &bundles[0].manifest;
    let name = dns_name(args.name.as_deref().unwrap_or(&first.name));
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| format!("{name}:latest"));
    let names: Vec<&str> = bundles.iter().map(|b| b.manifest.name.as_str()).collect();
    let out = &args.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write(
        out,
        "kubernetes.yaml",
        &kubernetes(&args, &name, &image, &names),
    )?;
    let storage = args.storage_uri.replace("BUNDLE", &first.name);
    write(out, "kserve.yaml", &kserve(&args, &name, &image, &storage))?;
    write(out, "README.md", &readme(&name, &image))?;
    println!(
        "wrote {} (kubernetes.yaml, kserve.yaml, README.md) for the image {image}",
        out.display()
    );
    Ok(())
}

/// A Kubernetes object name: lowercase letters, digits and `-`, 63 at most.
fn dns_name(text: &str) -> String {
    let name: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    let name = &name[..name.len().min(63)];
    match name.trim_end_matches('-') {
        "" => "wick".to_string(),
        name => name.to_string(),
    }
}

/// `text` as a YAML (JSON) string.
fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn kubernetes(args: &K8sArgs, name: &str, image: &str, bundles: &[&str]) -> String {
    let serve_args: String = bundles
        .iter()
        .map(|bundle| format!("\n            - {}", q(&format!("bundles/{bundle}"))))
        .collect();
    let (name_q, image_q, cpu, memory) = (q(name), q(image), q(&args.cpu), q(&args.memory));
    let (replicas, max_replicas) = (
        args.replicas.max(1),
        args.max_replicas.max(args.replicas.max(1)),
    );
    format!(
        r#"# Wick on Kubernetes, written by `wick deploy k8s`: {replicas}–{max_replicas} replicas of
# {image} (the image `wick deploy space` builds; push it where the cluster
# pulls from). Feedback goes to Postgres when the Secret `{name}-feedback`
# has a `url` (postgres://…); without it each pod keeps its own SQLite file
# in an emptyDir, lost with the pod. The admin token is read from the
# Secret `{name}-admin` (`token`), if it exists.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name_q}
  labels:
    app.kubernetes.io/name: {name_q}
    app.kubernetes.io/component: server
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name_q}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name_q}
        app.kubernetes.io/component: server
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{PORT}"
        prometheus.io/path: /metrics
    spec:
      # SIGTERM: /readyz turns 503 at once and Wick serves on for
      # --drain-secs while the Service stops sending it work, then requests
      # in flight get --shutdown-grace-secs; this covers both.
      terminationGracePeriodSeconds: {POD_GRACE_SECS}
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        fsGroup: 1000
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: wick
          image: {image_q}
          imagePullPolicy: IfNotPresent
          workingDir: /home/user/app
          command:
            - wick
            - serve{serve_args}
            - --drain-secs
            - "{DRAIN_SECS}"
            - --shutdown-grace-secs
            - "{REQUEST_GRACE_SECS}"
          ports:
            - name: http
              containerPort: {PORT}
          env:
            - name: WICK_HOST
              value: 0.0.0.0
            - name: WICK_PORT
              value: "{PORT}"
            - name: WICK_DATA_DIR
              value: /data
            - name: WICK_FEEDBACK_DB
              valueFrom:
                secretKeyRef:
                  name: {feedback_secret}
                  key: url
                  optional: true
            - name: WICK_ADMIN_TOKEN
              valueFrom:
                secretKeyRef:
                  name: {admin_secret}
                  key: token
                  optional: true
          resources:
            requests:
              cpu: {cpu}
              memory: {memory}
            limits:
              cpu: {cpu}
              memory: {memory}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities:
              drop: ["ALL"]
          # Every bundle file's SHA-256 is checked and the models loaded
          # before the port opens: allow a minute for that. (Numeric ports:
          # podman kube play reads a named one as 0.)
          startupProbe:
            httpGet:
              path: /readyz
              port: {PORT}
            periodSeconds: 2
            failureThreshold: 30
          readinessProbe:
            httpGet:
              path: /readyz
              port: {PORT}
            periodSeconds: 5
            failureThreshold: 1
          livenessProbe:
            httpGet:
              path: /healthz
              port: {PORT}
            periodSeconds: 10
            failureThreshold: 3
          volumeMounts:
            - name: data
              mountPath: /data
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: data
          emptyDir: {{}}
        - name: tmp
          emptyDir: {{}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name_q}
  labels:
    app.kubernetes.io/name: {name_q}
spec:
  selector:
    app.kubernetes.io/name: {name_q}
  ports:
    - name: http
      port: 80
      targetPort: http
---
# More replicas when the CPUs are busy: Wick batches, so CPU is its load.
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name_q}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {name_q}
  minReplicas: {replicas}
  maxReplicas: {max_replicas}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
---
# Node drains and upgrades take one replica at a time.
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {name_q}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {name_q}
"#,
        feedback_secret = q(&format!("{name}-feedback")),
        admin_secret = q(&format!("{name}-admin")),
    )
}

fn kserve(args: &K8sArgs, name: &str, image: &str, storage: &str) -> String {
    let (cpu, memory) = (q(&args.cpu), q(&args.memory));
    format!(
        r#"# Wick under KServe, written by `wick deploy k8s`: a ServingRuntime that
# runs {image} on the Open Inference Protocol (V2), reading the bundle KServe
# downloads from the InferenceService's storageUri into /mnt/models.
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: wick
spec:
  supportedModelFormats:
    - name: wick
      version: "1"
      autoSelect: true
  protocolVersions:
    - v2
  containers:
    - name: kserve-container
      image: {image_q}
      command:
        - wick
        - serve
        - /mnt/models
        - --port
        - "{KSERVE_PORT}"
        - --drain-secs
        - "{DRAIN_SECS}"
        - --shutdown-grace-secs
        - "{REQUEST_GRACE_SECS}"
      env:
        - name: WICK_HOST
          value: 0.0.0.0
        - name: WICK_DATA_DIR
          value: /tmp/wick-data
      ports:
        - containerPort: {KSERVE_PORT}
          protocol: TCP
      resources:
        requests:
          cpu: {cpu}
          memory: {memory}
        limits:
          cpu: {cpu}
          memory: {memory}
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        allowPrivilegeEscalation: false
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name_q}
spec:
  predictor:
    minReplicas: {replicas}
    maxReplicas: {max_replicas}
    # A new version: change storageUri and set canaryTrafficPercent (e.g.
    # 10) to send that share to it; KServe keeps the previous revision for
    # the rest, and promoting is removing the field. Inside one pod, Wick's
    # own rollout (`wick rollout`) does the same without Knative.
    # canaryTrafficPercent: 10
    model:
      modelFormat:
        name: wick
      runtime: wick
      protocolVersion: v2
      storageUri: {storage_q}
"#,
        image_q = q(image),
        name_q = q(name),
        storage_q = q(storage),
        replicas = args.replicas.max(1),
        max_replicas = args.max_replicas.max(args.replicas.max(1)),
    )
}

fn readme(name: &str, image: &str) -> String {
    format!(
        r#"# Running {name} on Kubernetes

Written by `wick deploy k8s`.

1. Build the image and push it where the cluster pulls from:

       wick deploy space space/ BUNDLE...
       podman build -t {image} space/ && podman push {image}

2. Optional: share feedback between replicas in Postgres, and turn the
   admin page and API on:

       kubectl create secret generic {name}-feedback --from-literal=url=postgres://user:password@host/db
       kubectl create secret generic {name}-admin --from-literal=token=$(openssl rand -hex 16)

3. `kubectl apply -f kubernetes.yaml`: the Deployment, its Service (port 80),
   an autoscaler on CPU and a disruption budget. Prometheus finds
   `/metrics` through the pod annotations.

4. Or under KServe: put the bundle folder where `storageUri` in kserve.yaml
   points, then `kubectl apply -f kserve.yaml`. Clients speak the V2
   protocol (`tritonclient`) to the InferenceService's URL.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_name("MiniLM_v2"), "minilm-v2");
        assert_eq!(dns_name("--x--"), "x");
        assert_eq!(dns_name("!!!"), "wick");
        assert_eq!(dns_name(&"a".repeat(80)).len(), 63);
    }
}
