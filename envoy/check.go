package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"

	// Extensions a hand-written envoy.yaml commonly names in typed_config,
	// linked so that their Any contents resolve and validate. The ones the
	// generator uses are linked by its own imports.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/generic/v3"
)

// ErrCheck marks every problem Check reports.
var ErrCheck = errors.New("envoy: invalid envoy.yaml")

// Problem is one thing wrong with an envoy.yaml, at a field path written with
// proto field names, e.g. static_resources.clusters[2].connect_timeout.
type Problem struct {
	Path   string
	Reason string
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Reason
	}
	return p.Path + ": " + p.Reason
}

// Unwrap lets errors.Is(err, ErrCheck) match.
func (p *Problem) Unwrap() error { return ErrCheck }

// Check validates an Envoy bootstrap written as YAML (or JSON) against the
// Envoy 1.40 API and the llm-failover contract. It decodes strictly (unknown
// fields, bad enum names and unresolvable Any types are errors), runs the
// generated validators on the bootstrap and on every typed_config Any inside
// it, recursively, and then checks cross references (see semantic.go). The
// result joins every problem found (errors.Join); each is a *Problem naming
// its field path, and errors.Is(err, ErrCheck) holds. Nil means valid.
//
// CheckVersion checks against an older version's topology.
func Check(yamlBytes []byte) error { return CheckVersion(yamlBytes, config.EnvoyV140) }

// decode turns YAML into a Bootstrap, strictly. On failure it locates every
// unknown field, bad enum and unknown Any type by path; protojson alone
// reports only the first, at a byte offset of the intermediate JSON.
func decode(yamlBytes []byte) (*bootstrapv3.Bootstrap, error) {
	if len(bytes.TrimSpace(yamlBytes)) == 0 {
		return nil, &Problem{Reason: "empty file"}
	}
	js, err := yaml.YAMLToJSON(yamlBytes)
	if err != nil {
		return nil, &Problem{Reason: "not YAML: " + err.Error()}
	}
	var b bootstrapv3.Bootstrap
	uerr := protojson.UnmarshalOptions{}.Unmarshal(js, &b)
	if uerr == nil {
		return &b, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, &Problem{Reason: "not a YAML mapping: " + err.Error()}
	}
	if probs := locate(tree, b.ProtoReflect().Descriptor(), ""); len(probs) > 0 {
		return nil, errors.Join(probs...)
	}
	return nil, &Problem{Reason: "does not decode as envoy.config.bootstrap.v3.Bootstrap: " + uerr.Error()}
}

// locate walks the JSON tree v against md and reports unknown fields, bad
// enum names, scalars of the wrong kind and unknown Any types with their
// paths. Range errors of numbers are left to protojson's message.
func locate(v any, md protoreflect.MessageDescriptor, path string) []error {
	if v == nil {
		return nil
	}
	if md.FullName() == "google.protobuf.Any" {
		return locateAny(v, path)
	}
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return nil // well-known types have their own JSON forms
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return []error{&Problem{Path: path, Reason: fmt.Sprintf("want a mapping for %s, got %s", md.FullName(), jsonKind(v))}}
	}
	var probs []error
	for _, k := range sortedKeys(obj) {
		fd := md.Fields().ByJSONName(k)
		if fd == nil {
			fd = md.Fields().ByTextName(k)
		}
		if fd == nil {
			probs = append(probs, &Problem{Path: path, Reason: fmt.Sprintf("unknown field %q in %s", k, md.FullName())})
			continue
		}
		probs = append(probs, locateField(obj[k], fd, join(path, string(fd.Name())))...)
	}
	return probs
}

func locateField(v any, fd protoreflect.FieldDescriptor, path string) []error {
	switch {
	case fd.IsMap():
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		var probs []error
		for _, k := range sortedKeys(m) {
			probs = append(probs, locateSingle(m[k], fd.MapValue(), fmt.Sprintf("%s[%q]", path, k))...)
		}
		return probs
	case fd.IsList():
		l, ok := v.([]any)
		if !ok {
			return nil
		}
		var probs []error
		for i, e := range l {
			probs = append(probs, locateSingle(e, fd, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return probs
	}
	return locateSingle(v, fd, path)
}

func locateSingle(v any, fd protoreflect.FieldDescriptor, path string) []error {
	if v == nil {
		return nil // null is the default value
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return locate(v, fd.Message(), path)
	case protoreflect.EnumKind:
		s, ok := v.(string)
		if !ok || fd.Enum().FullName() == "google.protobuf.NullValue" {
			return nil // numbers are accepted as enum values
		}
		if fd.Enum().Values().ByName(protoreflect.Name(s)) == nil {
			var names []string
			vals := fd.Enum().Values()
			for i := 0; i < vals.Len(); i++ {
				names = append(names, string(vals.Get(i).Name()))
			}
			return []error{&Problem{Path: path, Reason: fmt.Sprintf("%q is not a value of %s (one of %s)", s, fd.Enum().FullName(), strings.Join(names, ", "))}}
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			return wrongScalar(path, "true or false", v)
		}
	case protoreflect.StringKind, protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			return wrongScalar(path, "a string", v)
		}
	default: // the numeric kinds; protojson also takes numbers in quotes
		switch n := v.(type) {
		case json.Number:
		case string:
			if _, err := strconv.ParseFloat(n, 64); err != nil && n != "NaN" && n != "Infinity" && n != "-Infinity" {
				return wrongScalar(path, "a number", v)
			}
		default:
			return wrongScalar(path, "a number", v)
		}
	}
	return nil
}

func wrongScalar(path, want string, got any) []error {
	desc := jsonKind(got)
	if s, ok := got.(string); ok {
		desc = fmt.Sprintf("%q", s)
	}
	return []error{&Problem{Path: path, Reason: fmt.Sprintf("want %s, got %s", want, desc)}}
}

func locateAny(v any, path string) []error {
	obj, ok := v.(map[string]any)
	if !ok {
		return []error{&Problem{Path: path, Reason: "want a mapping with \"@type\" for google.protobuf.Any, got " + jsonKind(v)}}
	}
	url, _ := obj["@type"].(string)
	if url == "" {
		return []error{&Problem{Path: path, Reason: "typed config without \"@type\""}}
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err != nil {
		return []error{&Problem{Path: path + ".@type", Reason: fmt.Sprintf("unknown type %q: not an Envoy 1.40 API type, or an extension this checker does not link", url)}}
	}
	md := mt.Descriptor()
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return nil
	}
	rest := make(map[string]any, len(obj))
	for k, e := range obj {
		if k != "@type" {
			rest[k] = e
		}
	}
	return locate(rest, md, path)
}

// validateTree runs ValidateAll on m and, because the generated validators
// skip Any contents, unpacks every Any below m and does the same, recursively.
func validateTree(m protoreflect.Message, path string) []error {
	var probs []error
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			probs = append(probs, validationProblems(err, path)...)
		}
	}
	return append(probs, walkAnys(m, path)...)
}

// walkAnys finds every Any below m, in field order with map keys sorted,
// and validates its contents.
func walkAnys(m protoreflect.Message, path string) []error {
	var probs []error
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) || (fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind) {
			continue
		}
		fp := join(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.MessageKind {
				continue
			}
			mp := m.Get(fd).Map()
			var keys []protoreflect.MapKey
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, k := range keys {
				probs = append(probs, anyOrWalk(mp.Get(k).Message(), fmt.Sprintf("%s[%q]", fp, k.String()))...)
			}
		case fd.IsList():
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				probs = append(probs, anyOrWalk(l.Get(j).Message(), fmt.Sprintf("%s[%d]", fp, j))...)
			}
		default:
			probs = append(probs, anyOrWalk(m.Get(fd).Message(), fp)...)
		}
	}
	return probs
}

func anyOrWalk(m protoreflect.Message, path string) []error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return walkAnys(m, path)
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return []error{&Problem{Path: path, Reason: fmt.Sprintf("cannot unpack %s: %v", a.GetTypeUrl(), err)}}
	}
	return validateTree(inner.ProtoReflect(), path)
}

// validationError is what protoc-gen-validate generates for every message.
type validationError interface {
	Field() string
	Reason() string
	Cause() error
}

// validationProblems flattens protoc-gen-validate's nested errors into
// problems with snake_case paths.
func validationProblems(err error, path string) []error {
	if multi, ok := err.(interface{ AllErrors() []error }); ok {
		var probs []error
		for _, e := range multi.AllErrors() {
			probs = append(probs, validationProblems(e, path)...)
		}
		return probs
	}
	ve, ok := err.(validationError)
	if !ok {
		return []error{&Problem{Path: path, Reason: err.Error()}}
	}
	fp := join(path, snakePath(ve.Field()))
	if ve.Cause() != nil && ve.Reason() == "embedded message failed validation" {
		return validationProblems(ve.Cause(), fp)
	}
	reason := ve.Reason()
	if ve.Cause() != nil {
		reason += ": " + ve.Cause().Error()
	}
	return []error{&Problem{Path: fp, Reason: reason}}
}

// snakePath turns a Go field name such as "Clusters[2]" or
// "Http2ProtocolOptions" into its proto name ("clusters[2]", "http2_protocol_options").
func snakePath(field string) string {
	name, idx, _ := strings.Cut(field, "[")
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	if idx != "" {
		b.WriteString("[" + idx)
	}
	return b.String()
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}
