package main

// txgate's own rules for a rendering, on top of strict decoding: the txgate
// container is probed over native gRPC on its health port (--health_listen;
// the gRPC port without one), readiness on service "" and liveness on
// txgate.v1.Liveness, the DB password only
// ever reaches it as a file from a Secret volume, the pod's termination grace
// covers the preStop sleep plus txgate's drain, it runs non-root on a
// read-only root filesystem, and Services (one of them headless), a PDB, an
// HPA and a NetworkPolicy cover it.

import (
	"fmt"
	"math"
	"net"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// Options says what to expect of a rendering.
type Options struct {
	Container   string // name of txgate's container
	GRPCPort    int32  // port txgate serves gRPC on
	MinReplicas int32  // fewest replicas (and HPA minimum) accepted
	RequireTLS  bool   // the TLS flags must be set
	RequireHPA  bool   // an HPA must scale txgate's Deployment
}

// DefaultOptions are the expectations for every txgate rendering.
func DefaultOptions() Options {
	return Options{Container: "txgate", GRPCPort: 50051, MinReplicas: 2, RequireHPA: true}
}

// Result is the outcome of Validate.
type Result struct {
	Objects         []Object
	Errors          []string
	Warnings        []string
	ExternalSecrets []string // Secrets referenced but not in the rendering
	Budget          *Budget  // the connection budget of txgate's Deployment
}

// OK reports whether the rendering passed.
func (r Result) OK() bool { return len(r.Errors) == 0 }

// Validate decodes data strictly and, when every document decoded, runs the
// checks on the objects.
func Validate(data []byte, opt Options) Result {
	objs, errs := Decode(data)
	var r Result
	r.Objects = objs
	for _, err := range errs {
		r.Errors = append(r.Errors, err.Error())
	}
	if len(objs) == 0 && len(errs) == 0 {
		r.Errors = append(r.Errors, "no objects in the rendering")
	}
	if len(errs) > 0 {
		return r // checks on a partial rendering would only add noise
	}
	c := &checker{opt: opt, result: &r}
	c.index(objs)
	c.run()
	return r
}

type workload struct {
	obj         Object
	replicas    *int32 // nil where the kind has no replicas field, or it is unset
	selector    *metav1.LabelSelector
	template    *corev1.PodTemplateSpec
	annotations map[string]string          // the workload's own (not its pods')
	strategy    *appsv1.DeploymentStrategy // Deployments only
}

type checker struct {
	opt        Options
	result     *Result
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	services   []*corev1.Service
	pdbs       []*policyv1.PodDisruptionBudget
	hpas       []*autoscalingv2.HorizontalPodAutoscaler
	netpols    []*networkingv1.NetworkPolicy
	statefuls  []*appsv1.StatefulSet
	monitors   []*monitoringv1.ServiceMonitor
	workloads  []workload
}

func (c *checker) errorf(format string, args ...any) {
	c.result.Errors = append(c.result.Errors, fmt.Sprintf(format, args...))
}

func (c *checker) warnf(format string, args ...any) {
	c.result.Warnings = append(c.result.Warnings, fmt.Sprintf(format, args...))
}

func (c *checker) index(objs []Object) {
	c.configMaps = map[string]*corev1.ConfigMap{}
	c.secrets = map[string]*corev1.Secret{}
	seen := map[string]bool{}
	for _, o := range objs {
		key := o.GVK.GroupKind().String() + "/" + o.Name
		if seen[key] {
			c.errorf("%s appears twice in the rendering", o)
		}
		seen[key] = true
		switch v := o.Obj.(type) {
		case *corev1.ConfigMap:
			c.configMaps[v.Name] = v
		case *corev1.Secret:
			c.secrets[v.Name] = v
		case *corev1.Service:
			c.services = append(c.services, v)
		case *policyv1.PodDisruptionBudget:
			c.pdbs = append(c.pdbs, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.hpas = append(c.hpas, v)
		case *networkingv1.NetworkPolicy:
			c.netpols = append(c.netpols, v)
		case *monitoringv1.ServiceMonitor:
			c.monitors = append(c.monitors, v)
		case *appsv1.Deployment:
			c.workloads = append(c.workloads, workload{o, v.Spec.Replicas, v.Spec.Selector, &v.Spec.Template, v.Annotations, &v.Spec.Strategy})
		case *appsv1.StatefulSet:
			c.statefuls = append(c.statefuls, v)
			c.workloads = append(c.workloads, workload{o, v.Spec.Replicas, v.Spec.Selector, &v.Spec.Template, v.Annotations, nil})
		case *appsv1.DaemonSet:
			c.workloads = append(c.workloads, workload{o, nil, v.Spec.Selector, &v.Spec.Template, v.Annotations, nil})
		case *appsv1.ReplicaSet:
			c.workloads = append(c.workloads, workload{o, v.Spec.Replicas, v.Spec.Selector, &v.Spec.Template, v.Annotations, nil})
		case *batchv1.Job:
			c.workloads = append(c.workloads, workload{o, nil, nil, &v.Spec.Template, v.Annotations, nil})
		case *batchv1.CronJob:
			c.workloads = append(c.workloads, workload{o, nil, nil, &v.Spec.JobTemplate.Spec.Template, v.Annotations, nil})
		case *corev1.Pod:
			c.workloads = append(c.workloads, workload{o, nil, nil, &corev1.PodTemplateSpec{ObjectMeta: v.ObjectMeta, Spec: v.Spec}, v.Annotations, nil})
		}
	}
}

func (c *checker) run() {
	c.checkNoPasswordOutsideSecrets()
	for _, w := range c.workloads {
		c.checkSelector(w)
		c.checkImages(w)
		c.collectExternalSecrets(w)
	}
	c.checkStatefulSetServices()

	var found []workload
	for _, w := range c.workloads {
		if containerNamed(w.template.Spec.Containers, c.opt.Container) != nil {
			found = append(found, w)
		}
	}
	switch {
	case len(found) == 0:
		c.errorf("no Deployment has a container named %q", c.opt.Container)
		return
	case len(found) > 1:
		c.errorf("%d workloads have a container named %q; expected exactly one Deployment", len(found), c.opt.Container)
		return
	case found[0].obj.GVK.Kind != "Deployment":
		c.errorf("%s runs %q; it must be a Deployment", found[0].obj, c.opt.Container)
		return
	}
	c.checkTxgate(found[0])
}

// --- passwords --------------------------------------------------------------

// secretLike reports whether a setting, env var or key name names a secret
// value itself (not a path to a file holding it).
func secretLike(name string) bool {
	n := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if strings.HasSuffix(n, "_FILE") || strings.HasSuffix(n, "_PATH") || strings.HasSuffix(n, "_DIR") {
		return false
	}
	for _, word := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATE_KEY"} {
		if strings.Contains(n, word) {
			return true
		}
	}
	return false
}

// flagName returns the name of a command-line flag argument ("--a_b=c",
// "-a-b"), or "" when arg is not a flag.
func flagName(arg string) string {
	if !strings.HasPrefix(arg, "-") {
		return ""
	}
	name := strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	return name
}

type secretValue struct{ secret, key, value string }

func (c *checker) secretValues() []secretValue {
	var out []secretValue
	for name, s := range c.secrets {
		for k, v := range s.Data {
			out = append(out, secretValue{name, k, string(v)})
		}
		for k, v := range s.StringData {
			out = append(out, secretValue{name, k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].secret+out[i].key < out[j].secret+out[j].key })
	return out
}

// leaked returns the Secret entry whose value text contains, if any. Short
// values are ignored: they would match ordinary words.
func leaked(values []secretValue, text string) *secretValue {
	for i, v := range values {
		if len(v.value) >= 8 && strings.Contains(text, v.value) {
			return &values[i]
		}
	}
	return nil
}

// checkNoPasswordOutsideSecrets: no ConfigMap and no container (env, envFrom,
// args, command) holds a password, and no Secret is exposed as env vars.
func (c *checker) checkNoPasswordOutsideSecrets() {
	values := c.secretValues()
	names := make([]string, 0, len(c.configMaps))
	for n := range c.configMaps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cm := c.configMaps[n]
		for k, v := range cm.Data {
			if secretLike(k) {
				c.errorf("ConfigMap/%s key %s looks like a password; keep it in a Secret mounted as a file", n, k)
			}
			if s := leaked(values, v); s != nil {
				c.errorf("ConfigMap/%s key %s holds the value of Secret/%s key %s", n, k, s.secret, s.key)
			}
		}
		for k := range cm.BinaryData {
			if secretLike(k) {
				c.errorf("ConfigMap/%s key %s looks like a password; keep it in a Secret mounted as a file", n, k)
			}
		}
	}
	for _, w := range c.workloads {
		for _, ctr := range allContainers(&w.template.Spec) {
			where := fmt.Sprintf("container %s of %s", ctr.Name, w.obj)
			for _, e := range ctr.Env {
				if secretLike(e.Name) {
					c.errorf("%s: env var %s looks like a password; mount it from a Secret volume and pass the file's path", where, e.Name)
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					c.errorf("%s: env var %s comes from Secret/%s; mount Secrets as files, never as env vars", where, e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
				if s := leaked(values, e.Value); s != nil {
					c.errorf("%s: env var %s holds the value of Secret/%s key %s", where, e.Name, s.secret, s.key)
				}
			}
			for _, ef := range ctr.EnvFrom {
				if ef.SecretRef != nil {
					c.errorf("%s: envFrom exposes Secret/%s as env vars; mount it as files instead", where, ef.SecretRef.Name)
				}
			}
			args := append(append([]string{}, ctr.Command...), ctr.Args...)
			for _, a := range args {
				if name := flagName(a); name != "" && secretLike(name) {
					c.errorf("%s: argument %q passes a password on the command line; pass a *_file flag instead", where, name)
				}
				if s := leaked(values, a); s != nil {
					c.errorf("%s: an argument holds the value of Secret/%s key %s", where, s.secret, s.key)
				}
			}
		}
	}
}

// --- generic workload checks --------------------------------------------------

func allContainers(spec *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range spec.InitContainers {
		out = append(out, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		out = append(out, &spec.Containers[i])
	}
	return out
}

func containerNamed(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func (c *checker) checkSelector(w workload) {
	if w.selector == nil {
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil {
		c.errorf("%s: bad selector: %v", w.obj, err)
		return
	}
	if sel.Empty() || !sel.Matches(labels.Set(w.template.Labels)) {
		c.errorf("%s: spec.selector %s does not match the pod template's labels %v", w.obj, sel, w.template.Labels)
	}
}

func (c *checker) collectExternalSecrets(w workload) {
	add := func(name string) {
		if _, ok := c.secrets[name]; ok {
			return
		}
		for _, s := range c.result.ExternalSecrets {
			if s == name {
				return
			}
		}
		c.result.ExternalSecrets = append(c.result.ExternalSecrets, name)
	}
	for _, v := range w.template.Spec.Volumes {
		if v.Secret != nil {
			add(v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(src.Secret.Name)
				}
			}
		}
	}
	sort.Strings(c.result.ExternalSecrets)
}

func (c *checker) checkStatefulSetServices() {
	for _, s := range c.statefuls {
		if s.Spec.ServiceName == "" {
			continue
		}
		svc := c.service(s.Spec.ServiceName)
		if svc == nil {
			c.errorf("StatefulSet/%s: serviceName %q is not in the rendering", s.Name, s.Spec.ServiceName)
		} else if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			c.errorf("StatefulSet/%s: its governing Service/%s must be headless (clusterIP: None)", s.Name, svc.Name)
		}
	}
}

func (c *checker) service(name string) *corev1.Service {
	for _, s := range c.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// --- txgate ------------------------------------------------------------------

// setting is one resolved txgate flag and where its value came from.
type setting struct{ value, from string }

// settings resolves txgate's flags as the process would see them: env vars
// TXGATE_<FLAG> from envFrom ConfigMaps, then env, then command-line flags.
func (c *checker) settings(w workload, ctr *corev1.Container) map[string]setting {
	out := map[string]setting{}
	put := func(envName, value, from string) {
		if rest, ok := strings.CutPrefix(envName, "TXGATE_"); ok {
			out[strings.ToLower(rest)] = setting{value, from}
		}
	}
	for _, ef := range ctr.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		cm, ok := c.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			if ef.ConfigMapRef.Optional == nil || !*ef.ConfigMapRef.Optional {
				c.errorf("%s: envFrom names ConfigMap/%s, which is not in the rendering", w.obj, ef.ConfigMapRef.Name)
			}
			continue
		}
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			put(ef.Prefix+k, cm.Data[k], "ConfigMap/"+cm.Name)
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			put(e.Name, e.Value, "env")
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			if cm, ok := c.configMaps[ref.Name]; ok {
				if v, ok := cm.Data[ref.Key]; ok {
					put(e.Name, v, "ConfigMap/"+cm.Name)
				}
			} else if ref.Optional == nil || !*ref.Optional {
				c.errorf("%s: env var %s names ConfigMap/%s, which is not in the rendering", w.obj, e.Name, ref.Name)
			}
		}
	}
	args := append(append([]string{}, ctr.Command...), ctr.Args...)
	for i := 0; i < len(args); i++ {
		name := flagName(args[i])
		if name == "" {
			continue
		}
		key := strings.ReplaceAll(name, "-", "_")
		if _, value, ok := strings.Cut(args[i], "="); ok {
			out[key] = setting{value, "args"}
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out[key] = setting{args[i+1], "args"}
			i++
		} else {
			out[key] = setting{"true", "args"}
		}
	}
	return out
}

func (c *checker) checkTxgate(w workload) {
	spec := &w.template.Spec
	ctr := containerNamed(spec.Containers, c.opt.Container)
	where := fmt.Sprintf("%s container %s", w.obj, ctr.Name)
	set := c.settings(w, ctr)

	// With an HPA, it owns the count, and its minimum is the floor.
	hpa := c.hpaFor(w)
	replicas := int32(1)
	maxReplicas := int64(1)
	switch {
	case hpa != nil:
		if w.replicas != nil {
			c.errorf("%s: spec.replicas is %d, but HorizontalPodAutoscaler/%s owns the count: "+
				"every apply would reset it; drop replicas", w.obj, *w.replicas, hpa.Name)
		}
		if hpa.Spec.MinReplicas != nil {
			replicas = *hpa.Spec.MinReplicas
		}
		maxReplicas = int64(hpa.Spec.MaxReplicas)
	case w.replicas != nil:
		replicas = *w.replicas
		maxReplicas = int64(replicas)
	}
	if replicas < c.opt.MinReplicas {
		c.errorf("%s: %d replicas; want at least %d", w.obj, replicas, c.opt.MinReplicas)
	}
	if ctr.Image == "" {
		c.errorf("%s: no image", where)
	}
	c.checkBudget(where, w, set, maxReplicas)

	c.checkPorts(where, ctr, set)
	c.checkProbes(where, ctr, set)
	c.checkPasswordFile(where, spec, ctr, set)
	c.checkFileSettings(where, spec, ctr, set)
	c.checkGrace(w, ctr, set)
	c.checkSecurity(where, spec, ctr)
	c.checkResources(where, ctr)
	c.checkServices(w, ctr)
	c.checkPDB(w, replicas)
	c.checkHPA(w)
	c.checkNetworkPolicy(w, ctr, set)
	c.checkServiceMonitors(w, ctr, set)
}

// checkServiceMonitors: every ServiceMonitor selects a Service of txgate's
// pods whose named port reaches --metrics_listen's containerPort.
func (c *checker) checkServiceMonitors(w workload, ctr *corev1.Container, set map[string]setting) {
	metricsPort := int32(0)
	if m, ok := set["metrics_listen"]; ok {
		if _, port, err := listenPort(m.value); err == nil {
			metricsPort = int32(port)
		}
	}
	for _, sm := range c.monitors {
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			c.errorf("ServiceMonitor/%s: its selector selects every Service (or is invalid: %v)", sm.Name, err)
			continue
		}
		if metricsPort == 0 {
			c.errorf("ServiceMonitor/%s: txgate serves no metrics (--metrics_listen is unset)", sm.Name)
			continue
		}
		if len(sm.Spec.Endpoints) == 0 {
			c.errorf("ServiceMonitor/%s: no endpoints", sm.Name)
		}
		for _, ep := range sm.Spec.Endpoints {
			reached := false
			for _, svc := range c.services {
				if !sel.Matches(labels.Set(svc.Labels)) || len(svc.Spec.Selector) == 0 ||
					!labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
					continue
				}
				for _, sp := range svc.Spec.Ports {
					if ep.Port != "" && sp.Name == ep.Port && targets(sp, ctr, metricsPort) {
						reached = true
					}
				}
			}
			if !reached {
				c.errorf("ServiceMonitor/%s: endpoint port %q is no port of a selected Service reaching txgate's metrics port %d",
					sm.Name, ep.Port, metricsPort)
			}
		}
	}
}

// hpaFor returns the HPA that scales w, if any.
func (c *checker) hpaFor(w workload) *autoscalingv2.HorizontalPodAutoscaler {
	for _, h := range c.hpas {
		if ref := h.Spec.ScaleTargetRef; ref.Kind == w.obj.GVK.Kind && ref.Name == w.obj.Name {
			return h
		}
	}
	return nil
}

// exactTag is a release tag: major.minor.patch, maybe with a suffix
// ("0.1.0", "v1.2.3", "10.11.19", "1.2.3-rc1"); "latest", "10.11" or "1"
// move to new builds.
var exactTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+_.][0-9A-Za-z_.-]+)?$`)
var imageDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// checkImages: every container names its image by digest or by an exact
// release tag, so that what runs is what was tested.
func (c *checker) checkImages(w workload) {
	for _, ctr := range allContainers(&w.template.Spec) {
		image := ctr.Image
		if name, digest, ok := strings.Cut(image, "@"); ok {
			if !imageDigest.MatchString(digest) || name == "" {
				c.errorf("container %s of %s: image %q: the digest is not sha256:<64 hex digits>", ctr.Name, w.obj, image)
			}
			continue
		}
		tag := ""
		if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") {
			tag = image[i+1:]
		}
		switch {
		case tag == "":
			c.errorf("container %s of %s: image %q has no tag, which means latest: pin an exact release tag or a digest", ctr.Name, w.obj, image)
		case !exactTag.MatchString(tag):
			c.errorf("container %s of %s: image %q: tag %q floats; pin an exact release tag (1.2.3) or a digest", ctr.Name, w.obj, image, tag)
		}
	}
}

func listenPort(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}

func hasContainerPort(ctr *corev1.Container, port int32) *corev1.ContainerPort {
	for i := range ctr.Ports {
		if ctr.Ports[i].ContainerPort == port {
			return &ctr.Ports[i]
		}
	}
	return nil
}

func (c *checker) checkPorts(where string, ctr *corev1.Container, set map[string]setting) {
	if p := hasContainerPort(ctr, c.opt.GRPCPort); p == nil {
		c.errorf("%s: no containerPort %d for gRPC", where, c.opt.GRPCPort)
	} else if p.Name != "grpc" {
		c.warnf("%s: containerPort %d is named %q, not \"grpc\"", where, c.opt.GRPCPort, p.Name)
	}
	listen, ok := set["listen"]
	if !ok {
		c.errorf("%s: --listen (TXGATE_LISTEN) is not set; want 0.0.0.0:%d", where, c.opt.GRPCPort)
	} else if host, port, err := listenPort(listen.value); err != nil {
		c.errorf("%s: --listen %q (from %s) is not host:port: %v", where, listen.value, listen.from, err)
	} else {
		if int32(port) != c.opt.GRPCPort {
			c.errorf("%s: --listen %q (from %s) is not port %d, which the probes and Services use", where, listen.value, listen.from, c.opt.GRPCPort)
		}
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			c.errorf("%s: --listen %q (from %s) is loopback; the kubelet and Services cannot reach it", where, listen.value, listen.from)
		}
	}
	if m, ok := set["metrics_listen"]; ok {
		if _, port, err := listenPort(m.value); err != nil {
			c.errorf("%s: --metrics_listen %q (from %s) is not host:port: %v", where, m.value, m.from, err)
		} else if hasContainerPort(ctr, int32(port)) == nil {
			c.errorf("%s: --metrics_listen port %d (from %s) is not a containerPort", where, port, m.from)
		}
	}
	if h, ok := set["health_listen"]; ok {
		if host, port, err := listenPort(h.value); err != nil {
			c.errorf("%s: --health_listen %q (from %s) is not host:port: %v", where, h.value, h.from, err)
		} else {
			if hasContainerPort(ctr, int32(port)) == nil {
				c.errorf("%s: --health_listen port %d (from %s) is not a containerPort", where, port, h.from)
			}
			if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
				c.errorf("%s: --health_listen %q (from %s) is loopback; the kubelet cannot reach it", where, h.value, h.from)
			}
		}
	}
}

// Health service names txgate answers (server/service/health_service.h).
const (
	readinessService = ""                   // SERVING while the database is reachable
	livenessService  = "txgate.v1.Liveness" // SERVING while the process runs
)

// healthPort is the port the kubelet's probes must use: --health_listen's
// when set (plaintext, health only), else the gRPC port.
func (c *checker) healthPort(set map[string]setting) (int32, string) {
	if h, ok := set["health_listen"]; ok {
		if _, port, err := listenPort(h.value); err == nil {
			return int32(port), "health"
		}
	}
	return c.opt.GRPCPort, "gRPC"
}

func (c *checker) checkProbes(where string, ctr *corev1.Container, set map[string]setting) {
	port, what := c.healthPort(set)
	probes := []struct {
		name     string
		probe    *corev1.Probe
		required bool
		services []string // accepted health service names
		why      string
	}{
		{"readinessProbe", ctr.ReadinessProbe, true, []string{readinessService, "txgate.v1.DatabaseService"},
			"readiness must follow the database and the drain"},
		{"livenessProbe", ctr.LivenessProbe, true, []string{livenessService},
			"a database outage or a drain would make the kubelet restart every pod"},
		{"startupProbe", ctr.StartupProbe, false, []string{livenessService},
			"a database down at start would make the kubelet restart the pods"},
	}
	for _, p := range probes {
		switch {
		case p.probe == nil:
			if p.required {
				c.errorf("%s: no %s; want a native gRPC probe (grpc: {port: %d})", where, p.name, port)
			}
		case p.probe.GRPC == nil:
			c.errorf("%s: %s is not a native gRPC probe; want grpc: {port: %d}", where, p.name, port)
		case p.probe.GRPC.Port != port:
			c.errorf("%s: %s probes port %d, but txgate serves %s on %d", where, p.name, p.probe.GRPC.Port, what, port)
		default:
			service := ""
			if p.probe.GRPC.Service != nil {
				service = *p.probe.GRPC.Service
			}
			ok := false
			for _, s := range p.services {
				ok = ok || s == service
			}
			if !ok {
				c.errorf("%s: %s checks health service %q; want %q (%s)", where, p.name, service, p.services[0], p.why)
			}
		}
	}
	if _, tls := set["tls_cert_file"]; tls {
		if _, health := set["health_listen"]; !health {
			c.errorf("%s: TLS is on, and the kubelet's gRPC probes connect in plaintext without a client certificate "+
				"or token; set --health_listen (a plaintext port serving only health) and probe it", where)
		}
	}
}

// mountFor finds the volume mount that serves file p in ctr, and its volume.
func mountFor(spec *corev1.PodSpec, ctr *corev1.Container, p string) (*corev1.VolumeMount, *corev1.Volume, string) {
	p = path.Clean(p)
	var best *corev1.VolumeMount
	var rel string
	for i := range ctr.VolumeMounts {
		m := &ctr.VolumeMounts[i]
		mp := path.Clean(m.MountPath)
		switch {
		case m.SubPath != "" && p == mp:
			best, rel = m, m.SubPath
		case m.SubPath == "" && strings.HasPrefix(p, mp+"/") && (best == nil || len(mp) > len(best.MountPath)):
			best, rel = m, strings.TrimPrefix(p, mp+"/")
		}
	}
	if best == nil {
		return nil, nil, ""
	}
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == best.Name {
			return best, &spec.Volumes[i], rel
		}
	}
	return best, nil, rel
}

// secretFile reports whether the file rel of volume v comes from a Secret,
// and which Secret, or why not.
func secretFile(v *corev1.Volume, rel string) (string, string) {
	switch {
	case v.Secret != nil:
		if len(v.Secret.Items) == 0 {
			return v.Secret.SecretName, ""
		}
		for _, it := range v.Secret.Items {
			if path.Clean(it.Path) == rel {
				return v.Secret.SecretName, ""
			}
		}
		return "", fmt.Sprintf("Secret volume %s has no item with path %q", v.Name, rel)
	case v.Projected != nil:
		for _, src := range v.Projected.Sources {
			if src.Secret == nil {
				continue
			}
			if len(src.Secret.Items) == 0 {
				return src.Secret.Name, ""
			}
			for _, it := range src.Secret.Items {
				if path.Clean(it.Path) == rel {
					return src.Secret.Name, ""
				}
			}
		}
		return "", fmt.Sprintf("projected volume %s has no Secret item with path %q", v.Name, rel)
	}
	return "", fmt.Sprintf("volume %s is not a Secret volume", v.Name)
}

func (c *checker) checkPasswordFile(where string, spec *corev1.PodSpec, ctr *corev1.Container, set map[string]setting) {
	if s, ok := set["mysql_password"]; ok {
		c.errorf("%s: --mysql_password is set (from %s); use --mysql_password_file with a Secret volume", where, s.from)
	}
	if s, ok := set["mysql_ro_password"]; ok {
		c.errorf("%s: --mysql_ro_password is set (from %s); use --mysql_ro_password_file with a Secret volume", where, s.from)
	}
	if ro, ok := set["mysql_ro_user"]; ok && ro.value != "" {
		if _, ok := set["mysql_ro_password_file"]; !ok {
			c.errorf("%s: --mysql_ro_user %s (from %s) is set but --mysql_ro_password_file is not: "+
				"the read-only account would log in with no password", where, ro.value, ro.from)
		}
	}
	pf, ok := set["mysql_password_file"]
	if !ok {
		c.errorf("%s: --mysql_password_file is not set; the DB password must come from a file of a Secret volume", where)
		return
	}
	m, v, rel := mountFor(spec, ctr, pf.value)
	switch {
	case m == nil:
		c.errorf("%s: --mysql_password_file %s (from %s) is under no volumeMount", where, pf.value, pf.from)
	case v == nil:
		c.errorf("%s: volumeMount %s names volume %q, which the pod does not have", where, m.MountPath, m.Name)
	default:
		if _, why := secretFile(v, rel); why != "" {
			c.errorf("%s: --mysql_password_file %s is not a file of a Secret: %s", where, pf.value, why)
		}
		if !m.ReadOnly {
			c.warnf("%s: volumeMount %s of the password should be readOnly", where, m.MountPath)
		}
	}
}

// checkFileSettings: every other *_file setting names a file that a volume
// provides; private keys and tokens must come from Secrets.
func (c *checker) checkFileSettings(where string, spec *corev1.PodSpec, ctr *corev1.Container, set map[string]setting) {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasSuffix(k, "_file") || k == "mysql_password_file" {
			continue
		}
		s := set[k]
		if s.value == "" {
			continue
		}
		m, v, rel := mountFor(spec, ctr, s.value)
		if m == nil || v == nil {
			c.errorf("%s: --%s %s (from %s) is under no volume of the pod", where, k, s.value, s.from)
			continue
		}
		if v.EmptyDir != nil {
			c.errorf("%s: --%s %s is on emptyDir volume %s, which starts empty", where, k, s.value, v.Name)
			continue
		}
		if k == "tls_key_file" || k == "auth_tokens_file" || k == "mysql_ro_password_file" {
			if _, why := secretFile(v, rel); why != "" {
				c.errorf("%s: --%s %s must be a file of a Secret: %s", where, k, s.value, why)
			}
		}
	}
	if c.opt.RequireTLS {
		for _, k := range []string{"tls_cert_file", "tls_key_file"} {
			if set[k].value == "" {
				c.errorf("%s: TLS is required here, and --%s is not set", where, k)
			}
		}
	}
}

// parseGrace reads a duration flag: "20s", "1m30s", or plain seconds.
func parseGrace(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// preStopSeconds returns how long the preStop hook sleeps.
func preStopSeconds(h *corev1.LifecycleHandler) (int64, error) {
	switch {
	case h.Sleep != nil:
		return h.Sleep.Seconds, nil
	case h.Exec != nil:
		cmd := h.Exec.Command
		if len(cmd) == 3 && path.Base(cmd[0]) == "sh" && cmd[1] == "-c" {
			cmd = strings.Fields(cmd[2])
		}
		if len(cmd) == 2 && path.Base(cmd[0]) == "sleep" {
			if n, err := strconv.ParseInt(cmd[1], 10, 64); err == nil {
				return n, nil
			}
		}
		return 0, fmt.Errorf("exec %q is not a plain sleep", h.Exec.Command)
	}
	return 0, fmt.Errorf("it is neither sleep nor exec sleep")
}

func (c *checker) checkGrace(w workload, ctr *corev1.Container, set map[string]setting) {
	where := fmt.Sprintf("%s container %s", w.obj, ctr.Name)
	g, ok := set["shutdown_grace"]
	if !ok {
		c.errorf("%s: --shutdown_grace (TXGATE_SHUTDOWN_GRACE) is not set; the pod's termination grace cannot be checked against it", where)
		return
	}
	grace, err := parseGrace(g.value)
	if err != nil || grace < 0 {
		c.errorf("%s: --shutdown_grace %q (from %s) is not a duration", where, g.value, g.from)
		return
	}
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil {
		c.errorf("%s: no lifecycle.preStop; want sleep: {seconds: N} so endpoints drop the pod before SIGTERM", where)
		return
	}
	sleep, err := preStopSeconds(ctr.Lifecycle.PreStop)
	if err != nil {
		c.errorf("%s: cannot tell how long preStop takes: %v", where, err)
		return
	}
	tgps := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if p := w.template.Spec.TerminationGracePeriodSeconds; p != nil {
		tgps = *p
	}
	need := int64(math.Ceil(grace.Seconds())) + sleep
	if tgps < need {
		c.errorf("%s: terminationGracePeriodSeconds %d < preStop sleep %ds + shutdown_grace %s = %ds; the kubelet would SIGKILL txgate mid-drain",
			w.obj, tgps, sleep, g.value, need)
	}
}

func (c *checker) checkSecurity(where string, spec *corev1.PodSpec, ctr *corev1.Container) {
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := ctr.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	nonRoot := psc.RunAsNonRoot
	if csc.RunAsNonRoot != nil {
		nonRoot = csc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		c.errorf("%s: runAsNonRoot is not true", where)
	}
	user := psc.RunAsUser
	if csc.RunAsUser != nil {
		user = csc.RunAsUser
	}
	if user == nil || *user == 0 {
		c.errorf("%s: runAsUser is not set to a non-zero UID", where)
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		c.errorf("%s: readOnlyRootFilesystem is not true", where)
	} else if m, v, _ := mountFor(spec, ctr, "/tmp/x"); m == nil || v == nil || m.ReadOnly {
		c.errorf("%s: the root filesystem is read-only and nothing writable is mounted at /tmp", where)
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		c.errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if csc.Privileged != nil && *csc.Privileged {
		c.errorf("%s: privileged", where)
	}
	dropsAll := false
	if csc.Capabilities != nil {
		for _, d := range csc.Capabilities.Drop {
			dropsAll = dropsAll || d == "ALL"
		}
		if len(csc.Capabilities.Add) > 0 {
			c.errorf("%s: adds capabilities %v", where, csc.Capabilities.Add)
		}
	}
	if !dropsAll {
		c.errorf("%s: capabilities.drop does not include ALL", where)
	}
	seccomp := psc.SeccompProfile
	if csc.SeccompProfile != nil {
		seccomp = csc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type == corev1.SeccompProfileTypeUnconfined {
		c.errorf("%s: seccompProfile is not RuntimeDefault (or Localhost)", where)
	}
}

func (c *checker) checkResources(where string, ctr *corev1.Container) {
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := ctr.Resources.Requests[r]; !ok {
			c.errorf("%s: no %s request", where, r)
		}
		if _, ok := ctr.Resources.Limits[r]; !ok {
			c.errorf("%s: no %s limit", where, r)
		}
	}
}

// targets reports whether Service port sp reaches containerPort want of ctr.
func targets(sp corev1.ServicePort, ctr *corev1.Container, want int32) bool {
	tp := sp.TargetPort
	if tp.Type == intstr.Int && tp.IntVal == 0 {
		tp = intstr.FromInt32(sp.Port)
	}
	for _, p := range ctr.Ports {
		if p.ContainerPort != want {
			continue
		}
		if (tp.Type == intstr.Int && tp.IntVal == p.ContainerPort) || (tp.Type == intstr.String && tp.StrVal == p.Name) {
			return true
		}
	}
	return false
}

func (c *checker) checkServices(w workload, ctr *corev1.Container) {
	podLabels := labels.Set(w.template.Labels)
	var headless, clusterIP bool
	for _, svc := range c.services {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			ok := false
			for _, p := range ctr.Ports {
				if targets(sp, ctr, p.ContainerPort) {
					ok = true
				}
			}
			if !ok {
				c.errorf("Service/%s port %s targets %s, which is no containerPort of %s", svc.Name, sp.Name, sp.TargetPort.String(), w.obj)
			}
			if targets(sp, ctr, c.opt.GRPCPort) {
				if svc.Spec.ClusterIP == corev1.ClusterIPNone {
					headless = true
				} else {
					clusterIP = true
				}
			}
		}
	}
	if !headless {
		c.errorf("no headless Service (clusterIP: None) selects %s on port %d; gRPC clients need one to resolve every pod for dns:/// round_robin",
			w.obj, c.opt.GRPCPort)
	}
	if !clusterIP {
		c.errorf("no ClusterIP Service selects %s on port %d", w.obj, c.opt.GRPCPort)
	}
}

func (c *checker) checkPDB(w workload, replicas int32) {
	found := false
	for _, pdb := range c.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.template.Labels)) {
			continue
		}
		found = true
		if m := pdb.Spec.MinAvailable; m != nil && m.Type == intstr.Int && m.IntVal >= replicas {
			c.errorf("PodDisruptionBudget/%s: minAvailable %d >= %d replicas blocks every voluntary eviction", pdb.Name, m.IntVal, replicas)
		}
	}
	if !found {
		c.errorf("no PodDisruptionBudget selects the pods of %s", w.obj)
	}
}

func (c *checker) checkHPA(w workload) {
	found := false
	for _, h := range c.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != w.obj.Name {
			continue
		}
		found = true
		minR := int32(1)
		if h.Spec.MinReplicas != nil {
			minR = *h.Spec.MinReplicas
		}
		if minR < c.opt.MinReplicas {
			c.errorf("HorizontalPodAutoscaler/%s: minReplicas %d < %d", h.Name, minR, c.opt.MinReplicas)
		}
		if minR > h.Spec.MaxReplicas {
			c.errorf("HorizontalPodAutoscaler/%s: minReplicas %d > maxReplicas %d", h.Name, minR, h.Spec.MaxReplicas)
		}
	}
	if !found && c.opt.RequireHPA {
		c.errorf("no HorizontalPodAutoscaler targets %s", w.obj)
	}
}

// allows reports whether rules admit TCP port (or the container port named
// name), or every port.
func allowsPort(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32, name string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.Int && (p.Port.IntVal == port || (p.EndPort != nil && p.Port.IntVal <= port && port <= *p.EndPort)) {
			return true
		}
		if p.Port.Type == intstr.String && name != "" && p.Port.StrVal == name {
			return true
		}
	}
	return false
}

func (c *checker) checkNetworkPolicy(w workload, ctr *corev1.Container, set map[string]setting) {
	mysqlPort := int32(3306)
	if s, ok := set["mysql_port"]; ok {
		if n, err := strconv.Atoi(s.value); err == nil {
			mysqlPort = int32(n)
		}
	}
	var selecting []*networkingv1.NetworkPolicy
	for _, np := range c.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err == nil && sel.Matches(labels.Set(w.template.Labels)) {
			selecting = append(selecting, np)
		}
	}
	if len(selecting) == 0 {
		c.errorf("no NetworkPolicy selects the pods of %s", w.obj)
		return
	}
	has := func(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
		for _, pt := range np.Spec.PolicyTypes {
			if pt == t {
				return true
			}
		}
		return t == networkingv1.PolicyTypeIngress && len(np.Spec.PolicyTypes) == 0
	}
	ingressPolicies, egressPolicies := false, false
	ingress := func(port int32, name string) bool {
		for _, np := range selecting {
			for _, r := range np.Spec.Ingress {
				if allowsPort(r.Ports, corev1.ProtocolTCP, port, name) {
					return true
				}
			}
		}
		return false
	}
	egress := func(proto corev1.Protocol, port int32) bool {
		for _, np := range selecting {
			for _, r := range np.Spec.Egress {
				if allowsPort(r.Ports, proto, port, "") {
					return true
				}
			}
		}
		return false
	}
	for _, np := range selecting {
		ingressPolicies = ingressPolicies || has(np, networkingv1.PolicyTypeIngress)
		egressPolicies = egressPolicies || has(np, networkingv1.PolicyTypeEgress)
	}
	if ingressPolicies {
		for _, p := range ctr.Ports {
			if !ingress(p.ContainerPort, p.Name) {
				c.errorf("the NetworkPolicies of %s admit no ingress to port %d (%s)", w.obj, p.ContainerPort, p.Name)
			}
		}
	}
	if egressPolicies {
		if !egress(corev1.ProtocolUDP, 53) {
			c.errorf("the NetworkPolicies of %s admit no egress to DNS (UDP 53)", w.obj)
		}
		if !egress(corev1.ProtocolTCP, mysqlPort) {
			c.errorf("the NetworkPolicies of %s admit no egress to MySQL (TCP %d)", w.obj, mysqlPort)
		}
	}
}
