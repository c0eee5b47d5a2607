package schema

import (
	"errors"
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

const bootstrap = "envoy.config.bootstrap.v3.Bootstrap"

// CheckBootstrap decodes an Envoy bootstrap (YAML or JSON) strictly with the
// linked go-control-plane release, as Envoy's own loader does (unknown fields,
// unknown enum names and unresolvable Any types are errors), and runs the
// protoc-gen-validate rules on it and on the contents of every Any inside it.
// It reports every rule violation, each prefixed with its field path.
func CheckBootstrap(yamlBytes []byte) error {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(bootstrap)
	if err != nil {
		return fmt.Errorf("%s is not linked: %w", bootstrap, err)
	}
	js, err := yaml.YAMLToJSON(yamlBytes)
	if err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	m := mt.New().Interface()
	if err := protojson.Unmarshal(js, m); err != nil {
		return fmt.Errorf("does not decode as %s: %w", bootstrap, err)
	}
	return errors.Join(validate(m.ProtoReflect(), "")...)
}

// validate runs ValidateAll on m (which recurses into embedded messages but
// not into Any contents) and then validates the contents of every Any below m.
func validate(m protoreflect.Message, path string) []error {
	var errs []error
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", orRoot(path), err))
		}
	}
	return append(errs, anysBelow(m, path)...)
}

// anysBelow finds the Anys below m, in field order with map keys sorted, and
// validates their contents.
func anysBelow(m protoreflect.Message, path string) []error {
	var errs []error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := join(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			var keys []protoreflect.MapKey
			v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, k := range keys {
				errs = append(errs, anyOrBelow(v.Map().Get(k).Message(), fmt.Sprintf("%s[%q]", p, k.String()))...)
			}
		case fd.IsList():
			if fd.Message() == nil {
				return true
			}
			for i := 0; i < v.List().Len(); i++ {
				errs = append(errs, anyOrBelow(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))...)
			}
		case fd.Message() != nil:
			errs = append(errs, anyOrBelow(v.Message(), p)...)
		}
		return true
	})
	return errs
}

func anyOrBelow(m protoreflect.Message, path string) []error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return anysBelow(m, path)
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return []error{fmt.Errorf("%s: cannot unpack %s: %w", path, a.GetTypeUrl(), err)}
	}
	return validate(inner.ProtoReflect(), path)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}
