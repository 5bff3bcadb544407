package main

// The validator must pass good renderings and reject broken ones. Each
// broken manifest is made from a good one by one change, so a rejection is
// due to that change. Good inputs: the frozen renderings in testdata/, and
// the live ones check_k8s.sh writes to $TXGATE_K8S_RENDERED (kustomize's and
// Helm's; those named *prod* must also carry TLS).

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type input struct {
	name string
	data []byte
	opt  Options
}

func goodInputs(t *testing.T) []input {
	t.Helper()
	var files []string
	frozen, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, frozen...)
	if dir := os.Getenv("TXGATE_K8S_RENDERED"); dir != "" {
		live, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if len(live) == 0 {
			t.Fatalf("TXGATE_K8S_RENDERED=%s holds no *.yaml", dir)
		}
		files = append(files, live...)
	} else {
		t.Log("TXGATE_K8S_RENDERED is not set: testing the frozen renderings only (tests/deploy/check_k8s.sh sets it)")
	}
	var out []input
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		opt := DefaultOptions()
		opt.RequireTLS = strings.Contains(filepath.Base(f), "prod")
		out = append(out, input{f, data, opt})
	}
	return out
}

func TestGoodRenderingsPass(t *testing.T) {
	for _, in := range goodInputs(t) {
		r := Validate(in.data, in.opt)
		if !r.OK() {
			t.Errorf("%s: rejected:\n  %s", in.name, strings.Join(r.Errors, "\n  "))
		}
		if len(r.Objects) < 8 {
			t.Errorf("%s: only %d objects decoded", in.name, len(r.Objects))
		}
	}
}

// --- editing a rendering as generic maps ------------------------------------

type docs []map[string]any

func parse(t *testing.T, data []byte) docs {
	t.Helper()
	var out docs
	for _, part := range strings.Split("\n"+string(data), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(part), &m); err != nil {
			t.Fatalf("parse: %v", err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

func (d docs) render(t *testing.T) []byte {
	t.Helper()
	var parts []string
	for _, m := range d {
		b, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(b))
	}
	return []byte(strings.Join(parts, "---\n"))
}

// get walks keys (string) and list indexes (int) from m.
func get(t *testing.T, m any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, ok := m.(map[string]any)
			if !ok || mm[k] == nil {
				t.Fatalf("no %q at %v", k, path)
			}
			m = mm[k]
		case int:
			l, ok := m.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("no [%d] at %v", k, path)
			}
			m = l[k]
		}
	}
	return m
}

func obj(t *testing.T, d docs, kind, namePrefix string) map[string]any {
	t.Helper()
	for _, m := range d {
		if m["kind"] == kind && strings.HasPrefix(get(t, m, "metadata", "name").(string), namePrefix) {
			return m
		}
	}
	t.Fatalf("no %s/%s*", kind, namePrefix)
	return nil
}

func podSpec(t *testing.T, d docs) map[string]any {
	return get(t, obj(t, d, "Deployment", "txgate"), "spec", "template", "spec").(map[string]any)
}

func txgate(t *testing.T, d docs) map[string]any {
	t.Helper()
	for _, c := range get(t, podSpec(t, d), "containers").([]any) {
		if c.(map[string]any)["name"] == "txgate" {
			return c.(map[string]any)
		}
	}
	t.Fatal("no txgate container")
	return nil
}

func appendTo(m map[string]any, key string, v any) {
	l, _ := m[key].([]any)
	m[key] = append(l, v)
}

func without(d docs, kind, name string) docs {
	var out docs
	for _, m := range d {
		if md, _ := m["metadata"].(map[string]any); m["kind"] == kind && md["name"] == name {
			continue
		}
		out = append(out, m)
	}
	return out
}

// --- broken manifests ----------------------------------------------------------

type breakage struct {
	name string
	want string // substring of one of the errors
	edit func(t *testing.T, d docs) docs
}

var breakages = []breakage{
	{"unknown field in Deployment spec", `unknown field "spec.replica"`, func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "Deployment", "txgate"), "spec").(map[string]any)["replica"] = 3
		return d
	}},
	{"unknown field in a container", `unknown field "spec.template.spec.containers[0].livenessProbes"`, func(t *testing.T, d docs) docs {
		txgate(t, d)["livenessProbes"] = txgate(t, d)["livenessProbe"]
		return d
	}},
	{"unknown field in a Service", `unknown field "spec.headless"`, func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "Service", "txgate-headless"), "spec").(map[string]any)["headless"] = true
		return d
	}},
	{"wrong type: replicas as a string", "cannot unmarshal string", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "Deployment", "txgate"), "spec").(map[string]any)["replicas"] = "two"
		return d
	}},
	{"wrong type: containerPort as a string", "cannot unmarshal string", func(t *testing.T, d docs) docs {
		get(t, txgate(t, d), "ports", 0).(map[string]any)["containerPort"] = "grpc"
		return d
	}},
	{"wrong type: env as a map", "cannot unmarshal object", func(t *testing.T, d docs) docs {
		txgate(t, d)["env"] = map[string]any{"TXGATE_LISTEN": "0.0.0.0:50051"}
		return d
	}},
	{"wrong type: bad quantity", "quantities must match", func(t *testing.T, d docs) docs {
		get(t, txgate(t, d), "resources", "limits").(map[string]any)["memory"] = "lots"
		return d
	}},
	{"unknown kind", `no kind "Deploymint" is registered`, func(t *testing.T, d docs) docs {
		obj(t, d, "Deployment", "txgate")["kind"] = "Deploymint"
		return d
	}},
	{"unknown apiVersion", `no kind "HorizontalPodAutoscaler" is registered for version "autoscaling/v9"`, func(t *testing.T, d docs) docs {
		obj(t, d, "HorizontalPodAutoscaler", "txgate")["apiVersion"] = "autoscaling/v9"
		return d
	}},
	{"readiness probe on the wrong port", "readinessProbe probes port 8080", func(t *testing.T, d docs) docs {
		get(t, txgate(t, d), "readinessProbe", "grpc").(map[string]any)["port"] = 8080
		return d
	}},
	{"liveness probe not gRPC", "livenessProbe is not a native gRPC probe", func(t *testing.T, d docs) docs {
		txgate(t, d)["livenessProbe"] = map[string]any{"tcpSocket": map[string]any{"port": 50051}}
		return d
	}},
	{"liveness probe on the readiness service", `livenessProbe checks health service ""; want "txgate.v1.Liveness"`, func(t *testing.T, d docs) docs {
		get(t, txgate(t, d), "livenessProbe", "grpc").(map[string]any)["service"] = ""
		return d
	}},
	{"readiness probe on the liveness service", `readinessProbe checks health service "txgate.v1.Liveness"`, func(t *testing.T, d docs) docs {
		get(t, txgate(t, d), "readinessProbe", "grpc").(map[string]any)["service"] = "txgate.v1.Liveness"
		return d
	}},
	{"probes on the gRPC port beside a health port", "livenessProbe probes port 50051, but txgate serves health on 8086", func(t *testing.T, d docs) docs {
		get(t, txgate(t, d), "livenessProbe", "grpc").(map[string]any)["port"] = 50051
		return d
	}},
	{"health port not a containerPort", "--health_listen port 8087 (from ConfigMap", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "ConfigMap", "txgate-config"), "data").(map[string]any)["TXGATE_HEALTH_LISTEN"] = "0.0.0.0:8087"
		return d
	}},
	{"no readiness probe", "no readinessProbe", func(t *testing.T, d docs) docs {
		delete(txgate(t, d), "readinessProbe")
		return d
	}},
	{"password in env", "env var TXGATE_MYSQL_PASSWORD looks like a password", func(t *testing.T, d docs) docs {
		appendTo(txgate(t, d), "env", map[string]any{"name": "TXGATE_MYSQL_PASSWORD", "value": "hunter2hunter2"})
		return d
	}},
	{"Secret as env var", "comes from Secret/txgate-db", func(t *testing.T, d docs) docs {
		appendTo(txgate(t, d), "env", map[string]any{"name": "DB_PASS", "valueFrom": map[string]any{
			"secretKeyRef": map[string]any{"name": "txgate-db", "key": "mysql-password"}}})
		return d
	}},
	{"Secret through envFrom", "envFrom exposes Secret/txgate-db", func(t *testing.T, d docs) docs {
		appendTo(txgate(t, d), "envFrom", map[string]any{"secretRef": map[string]any{"name": "txgate-db"}})
		return d
	}},
	{"password in the ConfigMap", "key TXGATE_MYSQL_PASSWORD looks like a password", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "ConfigMap", "txgate-config"), "data").(map[string]any)["TXGATE_MYSQL_PASSWORD"] = "hunter2hunter2"
		return d
	}},
	{"password as a flag", `argument "mysql_password" passes a password`, func(t *testing.T, d docs) docs {
		appendTo(txgate(t, d), "args", "--mysql_password=hunter2hunter2")
		return d
	}},
	{"password file not from a Secret", "is not a file of a Secret", func(t *testing.T, d docs) docs {
		for _, v := range get(t, podSpec(t, d), "volumes").([]any) {
			if vm := v.(map[string]any); vm["name"] == "db-secret" {
				delete(vm, "secret")
				vm["emptyDir"] = map[string]any{}
			}
		}
		return d
	}},
	{"password file path outside any mount", "is under no volumeMount", func(t *testing.T, d docs) docs {
		args := get(t, txgate(t, d), "args").([]any)
		for i, a := range args {
			if strings.HasPrefix(a.(string), "--mysql_password_file=") {
				args[i] = "--mysql_password_file=/var/run/pw"
			}
		}
		return d
	}},
	{"termination grace shorter than drain", "terminationGracePeriodSeconds 20 < preStop sleep 5s + shutdown_grace 20s = 25s", func(t *testing.T, d docs) docs {
		podSpec(t, d)["terminationGracePeriodSeconds"] = 20
		return d
	}},
	{"no preStop hook", "no lifecycle.preStop", func(t *testing.T, d docs) docs {
		delete(txgate(t, d), "lifecycle")
		return d
	}},
	{"may run as root", "runAsNonRoot is not true", func(t *testing.T, d docs) docs {
		delete(get(t, podSpec(t, d), "securityContext").(map[string]any), "runAsNonRoot")
		delete(get(t, txgate(t, d), "securityContext").(map[string]any), "runAsNonRoot")
		return d
	}},
	{"writable root filesystem", "readOnlyRootFilesystem is not true", func(t *testing.T, d docs) docs {
		get(t, txgate(t, d), "securityContext").(map[string]any)["readOnlyRootFilesystem"] = false
		return d
	}},
	{"capabilities kept", "capabilities.drop does not include ALL", func(t *testing.T, d docs) docs {
		delete(get(t, txgate(t, d), "securityContext").(map[string]any), "capabilities")
		return d
	}},
	{"no headless Service", "no headless Service", func(t *testing.T, d docs) docs {
		return without(d, "Service", "txgate-headless")
	}},
	{"headless Service selects nothing", "no headless Service", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "Service", "txgate-headless"), "spec").(map[string]any)["selector"] = map[string]any{"app": "other"}
		return d
	}},
	{"Service targets a missing port", "targets grpcs, which is no containerPort", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "Service", "txgate"), "spec", "ports", 0).(map[string]any)["targetPort"] = "grpcs"
		return d
	}},
	{"listen on another port", `--listen "0.0.0.0:6000"`, func(t *testing.T, d docs) docs {
		appendTo(txgate(t, d), "args", "--listen=0.0.0.0:6000")
		return d
	}},
	{"no PodDisruptionBudget", "no PodDisruptionBudget", func(t *testing.T, d docs) docs {
		return without(d, "PodDisruptionBudget", "txgate")
	}},
	{"NetworkPolicy blocks MySQL", "admit no egress to MySQL", func(t *testing.T, d docs) docs {
		np := get(t, obj(t, d, "NetworkPolicy", "txgate"), "spec").(map[string]any)
		np["egress"] = np["egress"].([]any)[:1]
		return d
	}},
	{"HPA minimum of one", "1 replicas; want at least 2", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "HorizontalPodAutoscaler", "txgate"), "spec").(map[string]any)["minReplicas"] = 1
		return d
	}},
	{"replicas beside the HPA", "but HorizontalPodAutoscaler/txgate owns the count", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "Deployment", "txgate"), "spec").(map[string]any)["replicas"] = 4
		return d
	}},
	{"no HPA", "no HorizontalPodAutoscaler targets", func(t *testing.T, d docs) docs {
		return without(d, "HorizontalPodAutoscaler", "txgate")
	}},
	{"image tag latest", `tag "latest" floats`, func(t *testing.T, d docs) docs {
		txgate(t, d)["image"] = "registry.example.com:5000/txgate:latest"
		return d
	}},
	{"image tag major.minor", `tag "0.1" floats`, func(t *testing.T, d docs) docs {
		txgate(t, d)["image"] = "txgate:0.1"
		return d
	}},
	{"image without a tag", "has no tag, which means latest", func(t *testing.T, d docs) docs {
		txgate(t, d)["image"] = "registry.example.com:5000/txgate"
		return d
	}},
	{"image digest cut short", "the digest is not sha256:<64 hex digits>", func(t *testing.T, d docs) docs {
		txgate(t, d)["image"] = "txgate@sha256:0123abcd"
		return d
	}},
	{"ro account without its password file", "the read-only account would log in with no password", func(t *testing.T, d docs) docs {
		var kept []any
		for _, a := range get(t, txgate(t, d), "args").([]any) {
			if !strings.HasPrefix(a.(string), "--mysql_ro_password_file=") {
				kept = append(kept, a)
			}
		}
		txgate(t, d)["args"] = kept
		return d
	}},
	{"HPA maximum beyond the connection budget", "connection budget: 41 pods (maxReplicas 40 + maxSurge 1)", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "HorizontalPodAutoscaler", "txgate"), "spec").(map[string]any)["maxReplicas"] = 40
		return d
	}},
	{"pool beyond the connection budget", "connection budget:", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "ConfigMap", "txgate-config"), "data").(map[string]any)["TXGATE_POOL_MAX_SIZE"] = "64"
		return d
	}},
	{"pool flag beyond the connection budget", "connection budget:", func(t *testing.T, d docs) docs {
		appendTo(txgate(t, d), "args", "--pool_max_size=64")
		return d
	}},
	{"percent surge beyond the connection budget", "connection budget:", func(t *testing.T, d docs) docs {
		spec := get(t, obj(t, d, "Deployment", "txgate"), "spec").(map[string]any)
		spec["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": "200%"}}
		return d
	}},
	{"database smaller than declared", "connection budget:", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "Deployment", "txgate"), "metadata", "annotations").(map[string]any)["txgate.io/database-max-connections"] = "60"
		return d
	}},
	{"no max_connections declared", "no annotation txgate.io/database-max-connections", func(t *testing.T, d docs) docs {
		delete(get(t, obj(t, d, "Deployment", "txgate"), "metadata", "annotations").(map[string]any), "txgate.io/database-max-connections")
		return d
	}},
	{"statement cache beyond max_prepared_stmt_count", "statement budget:", func(t *testing.T, d docs) docs {
		get(t, obj(t, d, "ConfigMap", "txgate-config"), "data").(map[string]any)["TXGATE_MYSQL_STATEMENT_CACHE_SIZE"] = "4096"
		return d
	}},
}

// The budget's arithmetic on the frozen base: (4 maxReplicas + 1 surge) x
// ((16 + 2) + (4 + 2)) connections, and the read-only pool's default of half
// the pool when --ro_pool_max_size is unset.
func TestBudgetFigures(t *testing.T) {
	data, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := Validate(data, DefaultOptions())
	if !r.OK() || r.Budget == nil {
		t.Fatalf("base rejected or no budget: %v", r.Errors)
	}
	b := *r.Budget
	if b.Pods != 5 || b.PerPod != 24 || b.Connections != 120 || b.Statements != 5*20*128 {
		t.Fatalf("budget %+v; want 5 pods x 24 = 120 connections, 12800 statements", b)
	}
	d := parse(t, data)
	delete(get(t, obj(t, d, "ConfigMap", "txgate-config"), "data").(map[string]any), "TXGATE_RO_POOL_MAX_SIZE")
	r = Validate(d.render(t), DefaultOptions())
	if r.Budget == nil || r.Budget.ROPool != 8 || r.Budget.Connections != 5*(18+10) {
		t.Fatalf("ro pool default: budget %+v; want ro pool 8, 140 connections", r.Budget)
	}
	if r.OK() {
		t.Fatal("140 connections passed a budget of 151 - 15")
	}
}

// An image pinned by digest passes.
func TestImageDigestAccepted(t *testing.T) {
	data, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := parse(t, data)
	txgate(t, d)["image"] = "registry.example.com:5000/txgate@sha256:" + strings.Repeat("ab", 32)
	if r := Validate(d.render(t), DefaultOptions()); !r.OK() {
		t.Fatalf("digest rejected: %v", r.Errors)
	}
}

func TestBrokenManifestsAreRejected(t *testing.T) {
	for _, in := range goodInputs(t) {
		for _, b := range breakages {
			t.Run(filepath.Base(in.name)+"/"+b.name, func(t *testing.T) {
				broken := b.edit(t, parse(t, in.data)).render(t)
				r := Validate(broken, in.opt)
				if r.OK() {
					t.Fatalf("accepted; want an error containing %q", b.want)
				}
				for _, e := range r.Errors {
					if strings.Contains(e, b.want) {
						return
					}
				}
				t.Fatalf("errors lack %q:\n  %s", b.want, strings.Join(r.Errors, "\n  "))
			})
		}
	}
}

// The map round trip above cannot express a duplicate key or a Secret's
// value pasted elsewhere; these edit the text.
func TestTextualBreakages(t *testing.T) {
	dev, err := os.ReadFile("testdata/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, old, new, want string }{
		{"duplicate key", "kind: Deployment\n", "kind: Deployment\nkind: Deployment\n", `"kind" already set in map`},
		{"Secret value copied into the ConfigMap", "  TXGATE_MYSQL_USER: txgate\n",
			"  TXGATE_MYSQL_USER: txgate\n  TXGATE_NOTE: pw is txgate-dev-only\n", "holds the value of Secret/txgate-db"},
		{"tab-indented YAML", "kind: Deployment\n", "kind: Deployment\n\tfoo: 1\n", "document"},
		{"preStop that is not a sleep", "sleep:\n              seconds: 5", "exec:\n              command: [/bin/true]", "cannot tell how long preStop takes"},
		{"CustomResource not in the scheme", "apiVersion: apps/v1\nkind: Deployment\n", "apiVersion: example.com/v1\nkind: Deployment\n", "no kind \"Deployment\" is registered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(dev), tc.old) {
				t.Fatalf("testdata/dev.yaml lacks %q", tc.old)
			}
			r := Validate([]byte(strings.Replace(string(dev), tc.old, tc.new, 1)), DefaultOptions())
			for _, e := range r.Errors {
				if strings.Contains(e, tc.want) {
					return
				}
			}
			t.Fatalf("errors lack %q:\n  %s", tc.want, strings.Join(r.Errors, "\n  "))
		})
	}
}

func TestRequireTLS(t *testing.T) {
	base, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultOptions()
	opt.RequireTLS = true
	r := Validate(base, opt)
	if r.OK() || !strings.Contains(strings.Join(r.Errors, "\n"), "--tls_cert_file is not set") {
		t.Fatalf("base without TLS flags passed -require-tls: %v", r.Errors)
	}
}

func TestEmptyInputFails(t *testing.T) {
	if Validate([]byte("# nothing\n---\n"), DefaultOptions()).OK() {
		t.Fatal("an empty rendering passed")
	}
}

// The ServiceMonitor (Helm, metrics.serviceMonitor.enabled) decodes as
// strictly as the built-in kinds, and must reach the metrics port.
func TestServiceMonitor(t *testing.T) {
	data, err := os.ReadFile("testdata/helm-prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultOptions()
	opt.RequireTLS = true
	cases := []struct {
		name, want string
		edit       func(sm map[string]any)
	}{
		{"unknown field", `unknown field "spec.endpoints[0].prot"`, func(sm map[string]any) {
			get(t, sm, "spec", "endpoints", 0).(map[string]any)["prot"] = "metrics"
		}},
		{"wrong type", "cannot unmarshal", func(sm map[string]any) {
			get(t, sm, "spec").(map[string]any)["endpoints"] = "metrics"
		}},
		{"port not on the Service", `endpoint port "grpcs" is no port`, func(sm map[string]any) {
			get(t, sm, "spec", "endpoints", 0).(map[string]any)["port"] = "grpcs"
		}},
		{"selects no txgate Service", `endpoint port "metrics" is no port`, func(sm map[string]any) {
			get(t, sm, "spec", "selector").(map[string]any)["matchLabels"] = map[string]any{"app": "other"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := parse(t, data)
			tc.edit(obj(t, d, "ServiceMonitor", "txgate"))
			r := Validate(d.render(t), opt)
			for _, e := range r.Errors {
				if strings.Contains(e, tc.want) {
					return
				}
			}
			t.Fatalf("errors lack %q:\n  %s", tc.want, strings.Join(r.Errors, "\n  "))
		})
	}
}
