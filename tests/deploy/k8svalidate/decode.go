package main

// Strict decoding of a multi-document YAML stream into the official
// Kubernetes API Go types (k8s.io/api via client-go's scheme). A field the
// type does not have, a value of the wrong type, a duplicate key, a missing
// name or a kind the scheme does not know is an error, as the API server
// would reject it. Besides the built-in kinds, the scheme knows the Prometheus
// Operator's monitoring.coreos.com/v1 types (ServiceMonitor, PodMonitor...),
// the Go types its CRD schemas are generated from: decoding checks fields and
// types as strictly, though not the schema's enums and patterns.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// Object is one decoded document.
type Object struct {
	Index int // 1-based position in the stream
	GVK   schema.GroupVersionKind
	Name  string
	Obj   runtime.Object
}

func (o Object) String() string { return o.GVK.Kind + "/" + o.Name }

// schemeSuffix is noise in "no kind is registered" errors.
var schemeSuffix = regexp.MustCompile(` in scheme "[^"]*"`)

// scheme holds the kinds a rendering may contain.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(monitoringv1.AddToScheme(s))
	return s
}()

var strictSerializer = kjson.NewSerializerWithOptions(
	kjson.DefaultMetaFactory, scheme, scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// Decode splits data into YAML documents and decodes each strictly. Empty
// documents are skipped. It returns the objects that decoded cleanly and one
// error per document that did not.
func Decode(data []byte) ([]Object, []error) {
	var objs []Object
	var errs []error
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for index := 1; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: cannot split the YAML stream: %v", index, err))
			break
		}
		asJSON, err := yaml.YAMLToJSON(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: not valid YAML: %v", index, err))
			continue
		}
		if s := string(bytes.TrimSpace(asJSON)); s == "null" || s == "" {
			index-- // comments or "---" only
			continue
		}
		label := describe(doc, index)
		obj, gvk, err := strictSerializer.Decode(doc, nil, nil)
		if err != nil {
			msg := schemeSuffix.ReplaceAllString(err.Error(), "")
			errs = append(errs, fmt.Errorf("%s: %s", label, msg))
			continue
		}
		if gvk.Kind == "List" || meta.IsListType(obj) {
			errs = append(errs, fmt.Errorf("%s: a List is not accepted; render its items as separate documents", label))
			continue
		}
		accessor, err := meta.Accessor(obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: no object metadata: %v", label, err))
			continue
		}
		if accessor.GetName() == "" {
			errs = append(errs, fmt.Errorf("%s: metadata.name is empty", label))
			continue
		}
		objs = append(objs, Object{Index: index, GVK: *gvk, Name: accessor.GetName(), Obj: obj})
	}
	return objs, errs
}

// describe names a document for messages, even when it does not decode.
func describe(doc []byte, index int) string {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = yaml.Unmarshal(doc, &head) // best effort: the real error comes from Decode
	return fmt.Sprintf("document %d (%s %s/%s)", index, head.APIVersion, head.Kind, head.Metadata.Name)
}
