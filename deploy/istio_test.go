package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
	"github.com/llm-failover/llm-failover/istio"
)

// istioAPIModules are the istio.io/api releases whose CRD schemas the
// objects of each Istio version are validated against (the newest patch
// release on the module proxy).
var istioAPIModules = map[string]string{
	istio.V130: "istio.io/api@v1.30.8",
	istio.V131: "istio.io/api@v1.31.4",
}

// crdSchemas caches crdSpecSchema.
var crdSchemas sync.Map // version/group/kind/apiVersion -> *jsonschema.Schema or error

// crdSpecSchema is the openAPIV3Schema of the spec of kind in the CRDs the
// istio.io/api module of Istio version ships
// (kubernetes/customresourcedefinitions.gen.yaml), made strict on unknown
// fields like kubectl apply --validate=strict.
func crdSpecSchema(version, apiVersion, kind string) (*jsonschema.Schema, error) {
	key := version + "/" + apiVersion + "/" + kind
	if v, ok := crdSchemas.Load(key); ok {
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(*jsonschema.Schema), nil
	}
	sch, err := loadCRDSpecSchema(version, apiVersion, kind)
	if err != nil {
		crdSchemas.Store(key, err)
		return nil, err
	}
	crdSchemas.Store(key, sch)
	return sch, nil
}

func loadCRDSpecSchema(version, apiVersion, kind string) (*jsonschema.Schema, error) {
	dir, err := moduleDir(istioAPIModules[version])
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	group, ver, _ := strings.Cut(apiVersion, "/")
	for _, doc := range bytes.Split(b, []byte("\n---")) {
		var crd struct {
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Served bool   `json:"served"`
					Schema struct {
						OpenAPIV3Schema struct {
							Properties map[string]any `json:"properties"`
						} `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &crd); err != nil || crd.Spec.Group != group || crd.Spec.Names.Kind != kind {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != ver {
				continue
			}
			if !v.Served {
				return nil, fmt.Errorf("%s: %s %s is not served", file, apiVersion, kind)
			}
			spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
			if !ok {
				return nil, fmt.Errorf("%s: %s %s has no spec schema", file, apiVersion, kind)
			}
			c := jsonschema.NewCompiler()
			url := "file://" + filepath.ToSlash(file) + "/" + apiVersion + "/" + kind
			if err := c.AddResource(url, strictOpenAPI(spec)); err != nil {
				return nil, err
			}
			return c.Compile(url)
		}
		return nil, fmt.Errorf("%s: %s has no version %s", file, kind, ver)
	}
	return nil, fmt.Errorf("%s: no CRD for %s %s", file, apiVersion, kind)
}

// withEnvoyVersion adds config.envoy.version: version to the chart values
// (a YAML document), as an operator sets it for the Istio release's Envoy.
func withEnvoyVersion(t *testing.T, values, version string) string {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(values), &v); err != nil {
		t.Fatal(err)
	}
	cfg, _ := v["config"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	env, _ := cfg["envoy"].(map[string]any)
	if env == nil {
		env = map[string]any{}
	}
	env["version"] = version
	cfg["envoy"], v["config"] = env, cfg
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// chartConfig is the configuration of the chart rendered with values.
func chartConfig(t *testing.T, values string) (*config.Config, *corev1.Service) {
	t.Helper()
	s, err := checkObjects(splitManifest(t, mustRender(t, values)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse([]byte(s.configMaps[0].Data["config.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	return c, s.services[0]
}

// TestIstioConfig_ObjectsValidateForEachRelease writes the Istio objects
// for the chart's configuration for each Istio release and checks every
// one as the cluster and its Envoy would see it: the Service against the
// Kubernetes schema and equal to the chart's, the Istio objects against
// that release's CRD schemas and strictly decoded into istio.io/api types,
// and every Envoy object a patch carries strictly decoded into the Envoy
// API and valid (PGV rules, inside every Any too) for that release's Envoy.
func TestIstioConfig_ObjectsValidateForEachRelease(t *testing.T) {
	tests := []struct {
		name   string
		values string
		opts   istio.Options
		kinds  string
	}{
		{
			name:  "gateway only",
			opts:  istio.Options{Hosts: []string{"llm.example.com"}},
			kinds: "DestinationRule,DestinationRule,EnvoyFilter,Service,ServiceEntry,ServiceEntry",
		},
		{
			name: "gateway and sidecars, a plain-text provider",
			values: `
config:
  providers:
    - {name: openai, api: openai, host: api.openai.com, auth: {key_env: OPENAI_API_KEY}}
    - {name: local, api: openai-compatible, host: vllm.models.svc.cluster.local, port: 8000, tls: false}
  chains: [{name: main, targets: [{provider: openai, model: gpt-4o}, {provider: local, model: llama}]}]
  default_chain: main`,
			opts: istio.Options{Hosts: []string{"llm.example.com", "*.llm.internal"}, GatewayNamespace: "ingress",
				GatewaySelector: map[string]string{"app": "gw"}, GatewayPort: 8080,
				SidecarNamespace: "apps", SidecarSelector: map[string]string{"llm-client": "true"}},
			kinds: "DestinationRule,EnvoyFilter,EnvoyFilter,Service,ServiceEntry,ServiceEntry",
		},
	}
	for _, tt := range tests {
		for _, version := range istio.Versions() {
			t.Run(tt.name+"/istio "+version, func(t *testing.T) {
				c, chartSvc := chartConfig(t, withEnvoyVersion(t, tt.values, istio.EnvoyVersion(version)))
				o := tt.opts
				o.IstioVersion = version
				out, err := istio.Generate(c, o)
				if err != nil {
					t.Fatal(err)
				}
				objs := splitManifest(t, string(out))
				if got := kinds(objs); got != tt.kinds {
					t.Errorf("kinds = %s, want %s", got, tt.kinds)
				}
				var errs []error
				for _, obj := range objs {
					errs = append(errs, checkIstioObject(version, obj, chartSvc)...)
				}
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("invalid objects:\n%v", err)
				}
			})
		}
	}
}

// checkIstioObject validates one object istio-config wrote for Istio version.
func checkIstioObject(version string, o object, chartSvc *corev1.Service) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{o}, a...)...))
	}
	var head struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec any `json:"spec"`
	}
	if err := yaml.Unmarshal(o.yaml, &head); err != nil {
		return []error{err}
	}
	for _, msg := range validation.IsDNS1123Subdomain(o.name) {
		bad("metadata.name: %s", msg)
	}
	for _, msg := range validation.IsDNS1123Label(o.namespace) {
		bad("metadata.namespace: %s", msg)
	}
	for _, e := range metavalidation.ValidateLabels(head.Metadata.Labels, field.NewPath("metadata", "labels")) {
		bad("%v", e)
	}
	if o.kind == "Service" {
		if err := validateKube(o.apiVersion, o.kind, o.yaml); err != nil {
			bad("Kubernetes schema: %v", err)
		}
		svc := &corev1.Service{}
		if err := yaml.UnmarshalStrict(o.yaml, svc); err != nil {
			bad("strict decoding: %v", err)
			return errs
		}
		if svc.Name != chartSvc.Name || svc.Namespace != chartSvc.Namespace ||
			!reflect.DeepEqual(svc.Spec.Selector, chartSvc.Spec.Selector) || !reflect.DeepEqual(svc.Spec.Ports, chartSvc.Spec.Ports) {
			bad("differs from the chart's Service:\n got  %s/%s %v %+v\n want %s/%s %v %+v", svc.Namespace, svc.Name, svc.Spec.Selector, svc.Spec.Ports,
				chartSvc.Namespace, chartSvc.Name, chartSvc.Spec.Selector, chartSvc.Spec.Ports)
		}
		return errs
	}
	spec, err := yaml.Marshal(head.Spec)
	if err != nil {
		return append(errs, err)
	}
	sch, err := crdSpecSchema(version, o.apiVersion, o.kind)
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", o, err))
	}
	if err := validateJSON(sch, spec); err != nil {
		bad("Istio %s CRD schema: %v", version, err)
	}
	specJSON, err := yaml.YAMLToJSON(spec)
	if err != nil {
		return append(errs, err)
	}
	var msg proto.Message
	switch o.kind {
	case "EnvoyFilter":
		msg = &networkingv1alpha3.EnvoyFilter{}
	case "ServiceEntry":
		msg = &networkingv1alpha3.ServiceEntry{}
	case "DestinationRule":
		msg = &networkingv1alpha3.DestinationRule{}
	default:
		bad("unexpected kind")
		return errs
	}
	if err := protojson.Unmarshal(specJSON, msg); err != nil {
		bad("strict decoding into istio.io/api: %v", err)
		return errs
	}
	if ef, ok := msg.(*networkingv1alpha3.EnvoyFilter); ok {
		errs = append(errs, checkPatches(version, o, ef)...)
	}
	return errs
}

// checkPatches decodes every patch value of ef into the Envoy type its
// applyTo names, refusing unknown fields, and validates it for the Envoy
// release of Istio version.
func checkPatches(version string, o object, ef *networkingv1alpha3.EnvoyFilter) []error {
	var errs []error
	if len(ef.GetWorkloadSelector().GetLabels()) == 0 {
		errs = append(errs, fmt.Errorf("%s: no workloadSelector: it would patch every proxy of the namespace", o))
	}
	for i, p := range ef.GetConfigPatches() {
		var m proto.Message
		switch p.GetApplyTo() {
		case networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
			m = &hcmv3.HttpFilter{}
		case networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST:
			m = &routev3.VirtualHost{}
		case networkingv1alpha3.EnvoyFilter_CLUSTER:
			m = &clusterv3.Cluster{}
		case networkingv1alpha3.EnvoyFilter_LISTENER:
			m = &listenerv3.Listener{}
		default:
			errs = append(errs, fmt.Errorf("%s: configPatches[%d]: unexpected applyTo %s", o, i, p.GetApplyTo()))
			continue
		}
		js, err := protojson.Marshal(p.GetPatch().GetValue())
		if err == nil {
			err = protojson.Unmarshal(js, m)
		}
		if err == nil {
			err = validateEnvoy(version, m)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: configPatches[%d] (%s %s): %w", o, i, p.GetApplyTo(), p.GetPatch().GetOperation(), err))
		}
	}
	return errs
}

// validateEnvoy validates m as the Envoy of Istio version would load it:
// the PGV rules of every message, inside every Any too (the generated
// validators stop at an Any).
func validateEnvoy(version string, m proto.Message) error {
	var errs []error
	var walk func(protoreflect.Message, string)
	walk = func(pm protoreflect.Message, path string) {
		if v, ok := pm.Interface().(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
		if a, ok := pm.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
				return
			}
			walk(inner.ProtoReflect(), path+"("+a.GetTypeUrl()+")")
			return
		}
		pm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			p := path + "." + string(fd.Name())
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message(), fmt.Sprintf("%s[%s]", p, k.String()))
					return true
				})
			case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
				walk(v.Message(), p)
			}
			return true
		})
	}
	walk(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()))
	if err := validateEnvoyAPI(istio.EnvoyVersion(version), m); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// The envoy package registers every Envoy type the generator uses, so the
// Anys above resolve.
var _ = envoy.ExtProcCluster

// TestIstioSchema_RefusesBrokenObjects checks that the validation refuses
// what Istio or Envoy would: an unknown spec field, a bad enum value, an
// unknown field inside an Envoy patch value, an invalid Envoy value.
func TestIstioSchema_RefusesBrokenObjects(t *testing.T) {
	c, chartSvc := chartConfig(t, withEnvoyVersion(t, "", "1.39"))
	out, err := istio.Generate(c, istio.Options{IstioVersion: istio.V131, Hosts: []string{"llm.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, kind, old, new, want string
	}{
		{"unknown spec field", "ServiceEntry", "location: MESH_EXTERNAL", "locaton: MESH_EXTERNAL", "locaton"},
		{"bad enum", "EnvoyFilter", "operation: INSERT_BEFORE", "operation: INSERT_BEFOR", "INSERT_BEFOR"},
		{"unknown Envoy field", "EnvoyFilter", "message_timeout: 2s", "message_timout: 2s", "message_timout"},
		{"invalid Envoy value", "EnvoyFilter", "connect_timeout: 5s", "connect_timeout: -5s", "ConnectTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []error
			broke := false
			for _, o := range splitManifest(t, string(out)) {
				if o.kind != tt.kind || !bytes.Contains(o.yaml, []byte(tt.old)) || broke {
					continue
				}
				o.yaml = bytes.Replace(o.yaml, []byte(tt.old), []byte(tt.new), 1)
				broke = true
				errs = append(errs, checkIstioObject(istio.V131, o, chartSvc)...)
			}
			if !broke {
				t.Fatalf("no %s holds %q", tt.kind, tt.old)
			}
			if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("errors = %v, want one naming %q", err, tt.want)
			}
		})
	}
}
