package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// kubernetesModule is the Kubernetes release whose OpenAPI schema the
// objects are validated against: the release of the k8s.io/api module in
// go.mod (v0.37.2 is Kubernetes v1.37.2). Its module zip carries
// api/openapi-spec/v3, the schema the API server publishes.
const kubernetesModule = "k8s.io/kubernetes@v1.37.2"

// moduleDirs caches moduleDir.
var moduleDirs sync.Map // module@version -> dir or error

// moduleDir returns the directory of module@version in the module cache,
// downloading it through the Go module proxy (GOPROXY) when it is not there
// yet: `go mod download` checks it against go.sum's checksum database.
func moduleDir(modVersion string) (string, error) {
	if v, ok := moduleDirs.Load(modVersion); ok {
		if err, ok := v.(error); ok {
			return "", err
		}
		return v.(string), nil
	}
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err == nil && info.Error != "" {
		err = errors.New(info.Error)
	}
	if err == nil && info.Dir == "" {
		err = errors.New("no directory")
	}
	if err != nil {
		err = fmt.Errorf("go mod download %s: %v %s", modVersion, err, stderr.String())
		moduleDirs.Store(modVersion, err)
		return "", err
	}
	moduleDirs.Store(modVersion, info.Dir)
	return info.Dir, nil
}

// schemaSet compiles JSON schemas on demand from OpenAPI documents, once.
type schemaSet struct {
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	added    map[string]bool
	compiled map[string]*jsonschema.Schema
}

func newSchemaSet() *schemaSet {
	return &schemaSet{compiler: jsonschema.NewCompiler(), added: map[string]bool{}, compiled: map[string]*jsonschema.Schema{}}
}

// kubeSchemas are the Kubernetes OpenAPI schemas, shared by the tests.
var kubeSchemas = newSchemaSet()

// kubeSpecFile names the OpenAPI v3 document of an apiVersion in
// api/openapi-spec/v3 ("v1" -> api__v1, "apps/v1" -> apis__apps__v1).
func kubeSpecFile(apiVersion string) string {
	if group, version, ok := strings.Cut(apiVersion, "/"); ok {
		return "apis__" + group + "__" + version + "_openapi.json"
	}
	return "api__" + apiVersion + "_openapi.json"
}

// kubeSchemaName is the schema name of a built-in kind: the Go package
// path of its type, reversed ("apps/v1" Deployment ->
// io.k8s.api.apps.v1.Deployment; "networking.k8s.io/v1" -> io.k8s.api.networking.v1).
func kubeSchemaName(apiVersion, kind string) string {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group, version = "core", apiVersion
	}
	group = strings.TrimSuffix(group, ".k8s.io")
	return "io.k8s.api." + group + "." + version + "." + kind
}

// validateKube validates one object's JSON against the Kubernetes OpenAPI
// schema of its kind, made strict: a field the schema does not define is
// an error, as `kubectl apply --validate=strict` makes it.
func validateKube(apiVersion, kind string, doc []byte) error {
	dir, err := moduleDir(kubernetesModule)
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "api", "openapi-spec", "v3", kubeSpecFile(apiVersion))
	sch, err := kubeSchemas.schema(file, kubeSchemaName(apiVersion, kind))
	if err != nil {
		return err
	}
	return validateJSON(sch, doc)
}

// validateJSON validates a YAML or JSON document against sch.
func validateJSON(sch *jsonschema.Schema, doc []byte) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// schema returns the compiled schema name of the OpenAPI v3 document file
// (components.schemas), loading the document the first time.
func (s *schemaSet) schema(file, name string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	url := "file://" + filepath.ToSlash(file)
	key := url + "#" + name
	if sch, ok := s.compiled[key]; ok {
		return sch, nil
	}
	if !s.added[url] {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var spec struct {
			Components struct {
				Schemas map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(b, &spec); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(spec.Components.Schemas) == 0 {
			return nil, fmt.Errorf("%s: no components.schemas", file)
		}
		// The component schemas become $defs of one schema document; the
		// OpenAPI references are rewritten to point there.
		defs := map[string]any{}
		for k, v := range spec.Components.Schemas {
			defs[k] = strictOpenAPI(v)
		}
		if err := s.compiler.AddResource(url, map[string]any{"$defs": defs}); err != nil {
			return nil, err
		}
		s.added[url] = true
	}
	sch, err := s.compiler.Compile(url + "#/$defs/" + name)
	if err != nil {
		return nil, fmt.Errorf("schema %s in %s: %w", name, file, err)
	}
	s.compiled[key] = sch
	return sch, nil
}

// strictOpenAPI rewrites an OpenAPI v3 schema for a JSON schema validator:
// "#/components/schemas/X" references become "#/$defs/X", and an object
// schema with properties but no additionalProperties (and without
// x-kubernetes-preserve-unknown-fields) refuses other properties, as the
// API server's strict field validation does.
func strictOpenAPI(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x)+1)
		for k, e := range x {
			if k == "$ref" {
				if ref, ok := e.(string); ok {
					out[k] = strings.Replace(ref, "#/components/schemas/", "#/$defs/", 1)
					continue
				}
			}
			out[k] = strictOpenAPI(e)
		}
		_, props := x["properties"]
		_, extra := x["additionalProperties"]
		preserve, _ := x["x-kubernetes-preserve-unknown-fields"].(bool)
		if props && !extra && !preserve {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = strictOpenAPI(e)
		}
		return out
	}
	return v
}
