// Command k8svalidate checks rendered Kubernetes manifests of txgate.
//
// Every document is decoded strictly against the official Kubernetes API Go
// types (unknown fields, wrong types, duplicate keys and unknown kinds fail),
// then txgate's own rules run: see checks.go. It prints one verdict per file
// and exits 1 if any file fails, 2 on bad usage.
//
//	kustomize build deploy/k8s/overlays/prod | k8svalidate -require-tls -
//	k8svalidate base.yaml dev.yaml
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	opt := DefaultOptions()
	flag.StringVar(&opt.Container, "container", opt.Container, "name of txgate's container")
	port := flag.Int("grpc-port", int(opt.GRPCPort), "port txgate serves gRPC on")
	minReplicas := flag.Int("min-replicas", int(opt.MinReplicas), "fewest replicas accepted")
	flag.BoolVar(&opt.RequireTLS, "require-tls", false, "fail unless txgate's TLS flags are set")
	flag.BoolVar(&opt.RequireHPA, "require-hpa", opt.RequireHPA, "fail unless an HPA scales txgate (false: a fixed replica count)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: k8svalidate [flags] FILE... (- for stdin)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	opt.GRPCPort = int32(*port)
	opt.MinReplicas = int32(*minReplicas)
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	failed := false
	for _, name := range flag.Args() {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "k8svalidate: %v\n", err)
			os.Exit(2)
		}
		r := Validate(data, opt)
		report(os.Stdout, name, r)
		failed = failed || !r.OK()
	}
	if failed {
		os.Exit(1)
	}
}

func report(w io.Writer, name string, r Result) {
	kinds := map[string]int{}
	for _, o := range r.Objects {
		kinds[o.GVK.Kind]++
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	if r.OK() {
		fmt.Fprintf(w, "PASS %s: %d objects (%s)\n", name, len(r.Objects), strings.Join(parts, ", "))
	} else {
		fmt.Fprintf(w, "FAIL %s: %d errors\n", name, len(r.Errors))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	for _, e := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", e)
	}
	if r.Budget != nil {
		fmt.Fprintf(w, "  budget: %s\n", r.Budget)
	}
	if len(r.ExternalSecrets) > 0 {
		fmt.Fprintf(w, "  note: Secrets to create before applying: %s\n", strings.Join(r.ExternalSecrets, ", "))
	}
}
