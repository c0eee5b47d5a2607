package envoy

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// The schemas ValidateAPI checks against, one per Envoy release, are written
// by the tool modules under tools/envoyapi; refresh them with:
//
//go:generate ../tools/envoyapi/regen

// maxAnyDepth bounds how many Anys ValidateAPI unpacks inside one another
// (a typed_config inside a typed_config ...). The generated bootstraps nest
// at most three (HCM, cluster specifier, matcher input); anything deeper than
// the bound is refused rather than walked.
const maxAnyDepth = 32

// ValidateAPI reports every field, enum value and Any type set in m that the
// API of the given Envoy release ("1.38", "1.39" or "1.40") does not have. m
// is a message of the 1.40 API this module links (a Bootstrap, a Cluster, an
// HttpFilter, ...), typically decoded from YAML; ValidateAPI walks every field
// that is set, including list elements, map values and the contents of every
// Any (typed_config, typed_extension_protocol_options, ...), and checks it
// against the release's schema, embedded from go-control-plane/envoy of that
// release (see apiversion_data.go and tools/envoyapi/README.md). The type_url
// inside a TypedStruct must name a type of the release too.
//
// It checks presence in the API only: strict decoding and the
// protoc-gen-validate rules are Check's job. The result joins every problem
// (errors.Join), each a *Problem at the field path of the message holding the
// offending field, e.g. "static_resources.clusters[2]...retry_policy: field
// refresh_cluster_on_retry of envoy.config.route.v3.RetryPolicy does not
// exist in Envoy 1.38"; errors.Is(err, ErrCheck) holds. An unknown version is
// a *Problem too, naming the versions there are schemas for. A nil m is valid.
func ValidateAPI(version string, m proto.Message) error {
	s, err := apiSchemaFor(version)
	if err != nil {
		return err
	}
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil
	}
	w := apiWalker{schema: s}
	w.value(m.ProtoReflect(), "", 0)
	return errors.Join(w.probs...)
}

// apiWalker collects the problems of one ValidateAPI call.
type apiWalker struct {
	schema *apiSchema
	probs  []error
}

func (w *apiWalker) problem(path, format string, args ...any) {
	w.probs = append(w.probs, &Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// message checks m, found at path, and everything set below it. depth counts
// the Anys unpacked on the way to m.
func (w *apiWalker) message(m protoreflect.Message, path string, depth int) {
	md := m.Descriptor()
	fields, ok := w.schema.messages[md.FullName()]
	if !ok {
		w.problem(path, "type %s does not exist in Envoy %s", md.FullName(), w.schema.version)
		return
	}
	if len(m.GetUnknown()) > 0 {
		w.problem(path, "%s holds fields unknown to the Envoy 1.40 API, which cannot be checked for Envoy %s", md.FullName(), w.schema.version)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsExtension() || !fields[fd.Name()] {
			w.problem(path, "field %s of %s does not exist in Envoy %s", fd.Name(), md.FullName(), w.schema.version)
			return true
		}
		w.field(fd, v, join(path, string(fd.Name())), depth)
		return true
	})
	if md.FullName() == "xds.type.v3.TypedStruct" || md.FullName() == "udpa.type.v1.TypedStruct" {
		w.typedStruct(m, path)
	}
}

// field checks the value of a set field: each element of a list, each value
// of a map (keys sorted, so problems come in a stable order), or the one value.
func (w *apiWalker) field(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string, depth int) {
	switch {
	case fd.IsList():
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			w.single(fd, l.Get(i), fmt.Sprintf("%s[%d]", path, i), depth)
		}
	case fd.IsMap():
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
		sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
		for _, k := range keys {
			w.single(fd.MapValue(), mp.Get(k), fmt.Sprintf("%s[%q]", path, k.String()), depth)
		}
	default:
		w.single(fd, v, path, depth)
	}
}

// single checks one value of field fd: a message (an Any is unpacked) or an
// enum value; other scalars exist wherever their field does.
func (w *apiWalker) single(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string, depth int) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.value(v.Message(), path, depth)
	case protoreflect.EnumKind:
		w.enum(fd.Enum(), v.Enum(), path)
	}
}

func (w *apiWalker) enum(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber, path string) {
	values, ok := w.schema.enums[ed.FullName()]
	if !ok {
		w.problem(path, "enum %s does not exist in Envoy %s", ed.FullName(), w.schema.version)
		return
	}
	vd := ed.Values().ByNumber(n)
	if vd == nil {
		w.problem(path, "%d is not a value of %s in the Envoy 1.40 API, so it cannot be checked for Envoy %s", n, ed.FullName(), w.schema.version)
		return
	}
	if !values[vd.Name()] {
		w.problem(path, "value %s of %s does not exist in Envoy %s", vd.Name(), ed.FullName(), w.schema.version)
	}
}

// any checks that the release has the Any's type and then walks its contents,
// at the Any's own path (as Check writes it).
func (w *apiWalker) any(a *anypb.Any, path string, depth int) {
	name := a.MessageName()
	if !name.IsValid() {
		w.problem(path, "type URL %q names no type", a.GetTypeUrl())
		return
	}
	if _, ok := w.schema.messages[name]; !ok {
		w.problem(path, "type %s does not exist in Envoy %s", name, w.schema.version)
		return
	}
	if depth >= maxAnyDepth {
		w.problem(path, "Anys nested more than %d deep are not checked", maxAnyDepth)
		return
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		w.problem(path, "cannot unpack %s to check it for Envoy %s: %v", a.GetTypeUrl(), w.schema.version, err)
		return
	}
	w.value(inner.ProtoReflect(), path, depth+1)
}

// value checks a message found at path, unpacking it first if it is an Any.
func (w *apiWalker) value(m protoreflect.Message, path string, depth int) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		w.any(a, path, depth)
		return
	}
	w.message(m, path, depth)
}

// typedStruct checks the type a TypedStruct (an Any written as a Struct)
// names; its Struct contents have no schema to check.
func (w *apiWalker) typedStruct(m protoreflect.Message, path string) {
	fd := m.Descriptor().Fields().ByName("type_url")
	if fd == nil || !m.Has(fd) {
		return
	}
	url := m.Get(fd).String()
	name := protoreflect.FullName(url[strings.LastIndexByte(url, '/')+1:])
	if !name.IsValid() {
		w.problem(join(path, "type_url"), "type URL %q names no type", url)
		return
	}
	if _, ok := w.schema.messages[name]; !ok {
		w.problem(join(path, "type_url"), "type %s does not exist in Envoy %s", name, w.schema.version)
	}
}
