package main

// The Helm chart's defaults render the same objects as the kustomize base:
// same kinds, same settings, same pod and container spec, same HPA, PDB,
// Services and NetworkPolicy. Names and labels differ by design (Helm adds
// the release's labels; kustomize hashes the ConfigMap's name). Runs on the
// live renderings check_k8s.sh writes (base.yaml and helm.yaml).

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

type rendering map[string][]any // kind -> objects, in order

func loadRendering(t *testing.T, file string) rendering {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := Decode(data)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", file, errs)
	}
	out := rendering{}
	for _, o := range objs {
		out[o.GVK.Kind] = append(out[o.GVK.Kind], o.Obj)
	}
	return out
}

func TestHelmMatchesKustomize(t *testing.T) {
	dir := os.Getenv("TXGATE_K8S_RENDERED")
	if dir == "" {
		t.Skip("TXGATE_K8S_RENDERED is not set (tests/deploy/check_k8s.sh sets it)")
	}
	k := loadRendering(t, filepath.Join(dir, "base.yaml"))
	h := loadRendering(t, filepath.Join(dir, "helm.yaml"))
	same := func(what string, a, b any) {
		if !equality.Semantic.DeepEqual(a, b) {
			t.Errorf("%s differs:\n  kustomize: %+v\n  helm:      %+v", what, a, b)
		}
	}
	for kind, objs := range k {
		if len(h[kind]) != len(objs) {
			t.Errorf("%d %s in kustomize, %d in helm", len(objs), kind, len(h[kind]))
		}
	}
	for kind, objs := range h {
		if len(k[kind]) != len(objs) {
			t.Errorf("%d %s in helm, %d in kustomize", len(objs), kind, len(k[kind]))
		}
	}
	if t.Failed() {
		return
	}
	same("ConfigMap data", k["ConfigMap"][0].(*corev1.ConfigMap).Data, h["ConfigMap"][0].(*corev1.ConfigMap).Data)

	kd, hd := k["Deployment"][0].(*appsv1.Deployment), h["Deployment"][0].(*appsv1.Deployment)
	same("Deployment replicas", kd.Spec.Replicas, hd.Spec.Replicas)
	same("Deployment strategy", kd.Spec.Strategy, hd.Spec.Strategy)
	for _, key := range []string{annMaxConnections, annConnReserve, annMaxStatements, annStmtReserve} {
		same("Deployment annotation "+key, kd.Annotations[key], hd.Annotations[key])
	}
	kp, hp := kd.Spec.Template.Spec, hd.Spec.Template.Spec
	same("pod securityContext", kp.SecurityContext, hp.SecurityContext)
	same("terminationGracePeriodSeconds", kp.TerminationGracePeriodSeconds, hp.TerminationGracePeriodSeconds)
	same("automountServiceAccountToken", kp.AutomountServiceAccountToken, hp.AutomountServiceAccountToken)
	same("volumes", kp.Volumes, hp.Volumes)
	same("topologySpreadConstraints count", len(kp.TopologySpreadConstraints), len(hp.TopologySpreadConstraints))
	for _, a := range []string{"prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"} {
		same("pod annotation "+a, kd.Spec.Template.Annotations[a], hd.Spec.Template.Annotations[a])
	}
	kc, hc := containerNamed(kp.Containers, "txgate"), containerNamed(hp.Containers, "txgate")
	if kc == nil || hc == nil {
		t.Fatal("no txgate container")
	}
	for name, pair := range map[string][2]any{
		"image":           {kc.Image, hc.Image},
		"args":            {kc.Args, hc.Args},
		"ports":           {kc.Ports, hc.Ports},
		"startupProbe":    {kc.StartupProbe, hc.StartupProbe},
		"readinessProbe":  {kc.ReadinessProbe, hc.ReadinessProbe},
		"livenessProbe":   {kc.LivenessProbe, hc.LivenessProbe},
		"lifecycle":       {kc.Lifecycle, hc.Lifecycle},
		"resources":       {kc.Resources, hc.Resources},
		"securityContext": {kc.SecurityContext, hc.SecurityContext},
		"volumeMounts":    {kc.VolumeMounts, hc.VolumeMounts},
	} {
		same("container "+name, pair[0], pair[1])
	}

	kh, hh := k["HorizontalPodAutoscaler"][0].(*autoscalingv2.HorizontalPodAutoscaler), h["HorizontalPodAutoscaler"][0].(*autoscalingv2.HorizontalPodAutoscaler)
	same("HPA minReplicas", kh.Spec.MinReplicas, hh.Spec.MinReplicas)
	same("HPA maxReplicas", kh.Spec.MaxReplicas, hh.Spec.MaxReplicas)
	same("HPA metrics", kh.Spec.Metrics, hh.Spec.Metrics)
	same("HPA behavior", kh.Spec.Behavior, hh.Spec.Behavior)

	same("PDB minAvailable", k["PodDisruptionBudget"][0].(*policyv1.PodDisruptionBudget).Spec.MinAvailable,
		h["PodDisruptionBudget"][0].(*policyv1.PodDisruptionBudget).Spec.MinAvailable)
	kn, hn := k["NetworkPolicy"][0].(*networkingv1.NetworkPolicy), h["NetworkPolicy"][0].(*networkingv1.NetworkPolicy)
	same("NetworkPolicy ingress", kn.Spec.Ingress, hn.Spec.Ingress)
	same("NetworkPolicy egress", kn.Spec.Egress, hn.Spec.Egress)
	same("NetworkPolicy policyTypes", kn.Spec.PolicyTypes, hn.Spec.PolicyTypes)

	services := func(r rendering) map[string]any {
		out := map[string]any{}
		for _, o := range r["Service"] {
			s := o.(*corev1.Service)
			out[fmt.Sprintf("headless=%v", s.Spec.ClusterIP == corev1.ClusterIPNone)] = s.Spec.Ports
		}
		return out
	}
	same("Services' ports", services(k), services(h))
}
