package envoymodel

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The Envoy versions the model plays (Options.Version). Each names the
// release commit whose source the version-specific rules follow, in the
// wbpcode/envoy mirror of envoyproxy/envoy.
const (
	// Version138 is Envoy v1.38.0 (f1dd21b16c): no refresh_cluster_on_retry
	// (a retry never re-runs the cluster specifier), no priority_group, and
	// without #45355 (a STREAMED headers answer continues the held response
	// headers; processor_state.cc handleHeaderContinue).
	Version138 = "1.38"
	// Version139 is Envoy v1.39.0 (8eea3285d6): refresh_cluster_on_retry
	// (#44719), #45355, no priority_group.
	Version139 = "1.39"
	// Version140 is Envoy 1.40 (go-control-plane envoy v1.40.0; source read at
	// 1.40.0-dev cb2a49b): the priority_group cluster specifier.
	Version140 = "1.40"
)

// Versions lists the versions the model plays, oldest first.
var Versions = []string{Version138, Version139, Version140}

// errUnknownVersion: Options.Version is not one of Versions.
var errUnknownVersion = errors.New("envoymodel: unknown Envoy version")

func checkVersionName(v string) error {
	for _, s := range Versions {
		if v == s {
			return nil
		}
	}
	return fmt.Errorf("%w %q (want one of %s)", errUnknownVersion, v, strings.Join(Versions, ", "))
}

// absentAPIText lists, per older version, every message, field and enum
// value of go-control-plane envoy v1.40.0 that the release's API lacks
// ("<version> M <message>", "F <message>.<field>", "V <enum>.<value>"): Envoy
// refuses a config using any of them (an unknown field in proto3 JSON/YAML,
// even at its default value; an Any of an unknown type; an unknown enum
// name). Generated from envoy/apidata (the schemas tools/envoyapi dumps from
// each go-control-plane module) by TestAbsentAPI_MatchesTheReleaseSchemas,
// which keeps it equal to them; the model reads no project package.
//
//go:embed absent_api.txt
var absentAPIText string

// absentAPI is absentAPIText by version, as keys "F ...", "M ...", "V ...".
var absentAPI = func() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, l := range strings.Split(absentAPIText, "\n") {
		v, key, ok := strings.Cut(l, " ")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		if out[v] == nil {
			out[v] = map[string]bool{}
		}
		out[v][key] = true
	}
	return out
}()

// checkVersionFields walks a bootstrap in its JSON form beside the message
// descriptors and reports every field and typed_config type the version
// lacks, with its path. Walking the JSON rather than the decoded message
// also catches a field written at its default value
// (refresh_cluster_on_retry: false), which Envoy 1.38 refuses too.
func checkVersionFields(version string, md protoreflect.MessageDescriptor, doc []byte) error {
	absent := absentAPI[version]
	if len(absent) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("envoymodel: %w", err)
	}
	var errs []error
	var walk func(md protoreflect.MessageDescriptor, v any, path string)
	walk = func(md protoreflect.MessageDescriptor, v any, path string) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		if md.FullName() == "google.protobuf.Any" {
			url, _ := obj["@type"].(string)
			name := url[strings.LastIndexByte(url, '/')+1:]
			if absent["M "+name] {
				errs = append(errs, fmt.Errorf("%s: type %s does not exist in Envoy %s", path, name, version))
				return
			}
			mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
			if err != nil || strings.HasPrefix(name, "google.protobuf.") {
				return
			}
			md = mt.Descriptor()
		}
		if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
			return
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fd := md.Fields().ByJSONName(k)
			if fd == nil {
				fd = md.Fields().ByTextName(k)
			}
			if fd == nil {
				continue
			}
			p := path + "." + string(fd.Name())
			if path == "" {
				p = string(fd.Name())
			}
			if absent["F "+string(md.FullName())+"."+string(fd.Name())] {
				errs = append(errs, fmt.Errorf("%s: field %s does not exist in Envoy %s", p, fd.Name(), version))
				continue
			}
			if ed := fd.Enum(); ed != nil {
				// An enum written by name; a list of them too.
				vals, ok := obj[k].([]any)
				if !ok {
					vals = []any{obj[k]}
				}
				for _, x := range vals {
					if name, ok := x.(string); ok && absent["V "+string(ed.FullName())+"."+name] {
						errs = append(errs, fmt.Errorf("%s: value %s does not exist in Envoy %s", p, name, version))
					}
				}
				continue
			}
			switch {
			case fd.IsMap() && fd.MapValue().Message() != nil:
				m, _ := obj[k].(map[string]any)
				mk := make([]string, 0, len(m))
				for x := range m {
					mk = append(mk, x)
				}
				sort.Strings(mk)
				for _, x := range mk {
					walk(fd.MapValue().Message(), m[x], fmt.Sprintf("%s[%q]", p, x))
				}
			case fd.IsList() && fd.Message() != nil:
				l, _ := obj[k].([]any)
				for i, x := range l {
					walk(fd.Message(), x, fmt.Sprintf("%s[%d]", p, i))
				}
			case fd.Message() != nil:
				walk(fd.Message(), obj[k], p)
			}
		}
	}
	walk(md, v, "")
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("envoymodel: the config does not load on Envoy %s:\n%w", version, errors.Join(errs...))
}

// checkVersionMessage is checkVersionFields for a decoded message (a
// field at its default value is then indistinguishable from an absent one).
func checkVersionMessage(version string, m proto.Message) error {
	doc, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Errorf("envoymodel: %w", err)
	}
	return checkVersionFields(version, m.ProtoReflect().Descriptor(), doc)
}
