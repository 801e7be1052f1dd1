// Package kubernetes holds the manifests that run rawkit on a cluster;
// its test holds job.yaml to what a sharded scan needs.
package kubernetes

import (
	"os"
	"slices"
	"strconv"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// job.yaml is an Indexed Job whose pods run as shards of one scan: a
// shard count equal to completions and a fixed seed, JSON on stdout;
// non-root, a read-only root, NET_RAW the only capability added.
func TestJobManifest(t *testing.T) {
	b, err := os.ReadFile("job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(b, &job); err != nil {
		t.Fatalf("job.yaml is not a batch/v1 Job: %v", err)
	}
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Errorf("%s %s", job.APIVersion, job.Kind)
	}
	spec := job.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatal("not an Indexed Job: pods would get no JOB_COMPLETION_INDEX")
	}
	if spec.Completions == nil || spec.Parallelism == nil || *spec.Parallelism < 1 {
		t.Fatal("completions and parallelism must be set")
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("restartPolicy %q", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	arg := func(name string) (string, bool) {
		i := slices.Index(c.Args, name)
		if i < 0 || i+1 >= len(c.Args) {
			return "", false
		}
		return c.Args[i+1], true
	}
	if n, ok := arg("--shard"); !ok || n != strconv.Itoa(int(*spec.Completions)) {
		t.Errorf("--shard %q: must name the count, equal to completions %d", n, *spec.Completions)
	}
	if _, ok := arg("--seed"); !ok {
		t.Error("no --seed: shards would not share one order")
	}
	if !slices.Contains(c.Args, "--json") {
		t.Error("no --json: merge reads the shards' NDJSON")
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no container securityContext with capabilities")
	}
	if !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_RAW"}) || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities add %v drop %v: want NET_RAW only, ALL dropped", sc.Capabilities.Add, sc.Capabilities.Drop)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root filesystem not read-only")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	nonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot ||
		sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
	if !nonRoot {
		t.Error("runAsNonRoot not set")
	}
	if pod.HostNetwork {
		t.Error("hostNetwork: a scan pod needs its own network only")
	}
}
