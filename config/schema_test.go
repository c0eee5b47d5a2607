package config

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	yaml "go.yaml.in/yaml/v3"
)

// schemaPath is the published JSON Schema of the configuration file.
const schemaPath = "../docs/config.schema.json"

// TestSchema_IsCurrent verifies docs/config.schema.json is the schema the
// config types and their doc comments give today (run with -update to
// rewrite it).
func TestSchema_IsCurrent(t *testing.T) {
	got := generateSchema(t)
	if *update {
		if err := os.WriteFile(schemaPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./config -run TestSchema_IsCurrent -update", schemaPath)
	}
}

// TestSchema_AcceptsEveryExample verifies every example configuration (and
// the one in docs/configuration.md) is valid against the published schema,
// and a file with a misspelt field is not.
func TestSchema_AcceptsEveryExample(t *testing.T) {
	sch := compileSchema(t)
	examples, _ := filepath.Glob("../examples/*.yaml")
	if len(examples) < 4 {
		t.Fatalf("examples: got %v", examples)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			if err := sch.Validate(yamlDoc(t, ex)); err != nil {
				t.Errorf("%s is not valid against %s: %v", ex, schemaPath, err)
			}
		})
	}
	for _, bad := range []string{"testdata/diagnostics/unknown-fields.yaml", "testdata/diagnostics/wrong-kinds.yaml"} {
		if err := sch.Validate(yamlDoc(t, bad)); err == nil {
			t.Errorf("%s is valid against the schema; want its problems found", bad)
		}
	}
}

// yamlDoc reads the YAML file at path as the JSON value a schema validates.
func yamlDoc(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if IsBrief(b) { // the brief's shape (brief.go): its conversion must be valid
		if b, _, err = ConvertBrief(b); err != nil {
			t.Fatal(err)
		}
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(v)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return sch
}

// sourceDocs are the doc comments of the config package: each type's, each
// struct field's (by type and Go field name), and the constants of each
// named type (its enum).
type sourceDocs struct {
	types  map[string]string
	fields map[string]map[string]string
	consts map[string][]string
}

func readSourceDocs(t *testing.T) sourceDocs {
	t.Helper()
	d := sourceDocs{types: map[string]string{}, fields: map[string]map[string]string{}, consts: map[string][]string{}}
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					doc := s.Doc.Text()
					if doc == "" {
						doc = gd.Doc.Text()
					}
					d.types[s.Name.Name] = clean(doc)
					if st, ok := s.Type.(*ast.StructType); ok {
						fm := map[string]string{}
						for _, f := range st.Fields.List {
							for _, n := range f.Names {
								fm[n.Name] = clean(f.Doc.Text())
							}
						}
						d.fields[s.Name.Name] = fm
					}
				case *ast.ValueSpec:
					if gd.Tok != token.CONST || s.Type == nil {
						continue
					}
					id, ok := s.Type.(*ast.Ident)
					if !ok {
						continue
					}
					for _, v := range s.Values {
						if bl, ok := v.(*ast.BasicLit); ok && bl.Kind == token.STRING {
							if u, err := strconv.Unquote(bl.Value); err == nil {
								d.consts[id.Name] = append(d.consts[id.Name], u)
							}
						}
					}
				}
			}
		}
	}
	return d
}

// clean joins a doc comment's lines into one paragraph.
func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

// generateSchema builds the JSON Schema (draft 2020-12) of Config from its
// types and doc comments: every section an object with
// additionalProperties false, enums from the typed constants, durations
// and sizes in the forms their UnmarshalJSON accepts.
func generateSchema(t *testing.T) []byte {
	t.Helper()
	g := &schemaGen{docs: readSourceDocs(t), defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Config]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/llm-failover/llm-failover/docs/config.schema.json"
	root["title"] = "llm-failover configuration"
	root["$defs"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

type schemaGen struct {
	docs sourceDocs
	defs map[string]any
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// schema is the schema of a value of t; structs go into $defs by name.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "string", "pattern": `^-?(0|([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$`},
			map[string]any{"type": "number"},
		}, "description": "A duration: a string like \"30s\", \"1m30s\" or \"250ms\", or a number of seconds."}
	case byteSizeType:
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": `^\s*[0-9]+\s*(GiB|MiB|KiB|GB|MB|KB|B)?\s*$`},
		}, "description": "A size in bytes: a number or a string with a unit (B, KiB, MiB, GiB, KB, MB, GB)."}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Struct:
		if _, done := g.defs[t.Name()]; !done {
			g.defs[t.Name()] = nil // a recursive type refers to itself
			g.defs[t.Name()] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		s := map[string]any{"type": "string"}
		if vals := g.docs.consts[t.Name()]; t.PkgPath() != "" && len(vals) > 0 {
			vals = slices.Clone(vals)
			slices.Sort(vals)
			s["enum"] = slices.Compact(vals)
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// object is the schema of struct t: its fields by JSON name, each with its
// doc comment, and no others.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	g.addFields(t, props)
	s := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if d := g.docs.types[t.Name()]; d != "" {
		s["description"] = d
	}
	return s
}

func (g *schemaGen) addFields(t reflect.Type, props map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			g.addFields(et, props)
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs := g.schema(f.Type)
		if d := g.docs.fields[t.Name()][f.Name]; d != "" {
			if _, isRef := fs["$ref"]; isRef {
				fs = map[string]any{"$ref": fs["$ref"], "description": d}
			} else {
				fs["description"] = d
			}
		}
		props[name] = fs
	}
}
