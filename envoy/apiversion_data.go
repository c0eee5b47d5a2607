package envoy

import (
	"bufio"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// apiData holds one gzipped schema per Envoy release, written by
// tools/envoyapi/schema.Write from go-control-plane/envoy of that release:
// a header line "envoy-api-schema/1 SOURCE", then one line per message
// ("M full.name field_a field_b ...") and per enum ("E full.name VALUE_A ...").
//
//go:embed apidata/envoy-*.txt.gz
var apiData embed.FS

// apiSchemaMagic is the header's first word the reader understands; keep it
// equal to schema.Magic in tools/envoyapi/schema.
const apiSchemaMagic = "envoy-api-schema/1"

// apiSchema is the API of one Envoy release: which messages and enums exist
// and, for each, the names of its fields or values. Immutable once loaded.
type apiSchema struct {
	version  string // "1.38"
	source   string // the go-control-plane/envoy module it was written from
	messages map[protoreflect.FullName]map[protoreflect.Name]bool
	enums    map[protoreflect.FullName]map[protoreflect.Name]bool
}

// apiSchemas reads every embedded schema once, on first use, keyed by version.
var apiSchemas = sync.OnceValues(func() (map[string]*apiSchema, error) {
	names, err := fs.Glob(apiData, "apidata/envoy-*.txt.gz")
	if err != nil {
		return nil, err
	}
	out := make(map[string]*apiSchema, len(names))
	for _, name := range names {
		v := strings.TrimSuffix(strings.TrimPrefix(path.Base(name), "envoy-"), ".txt.gz")
		s, err := readAPISchema(name, v)
		if err != nil {
			return nil, fmt.Errorf("envoy: embedded API schema %s: %w", name, err)
		}
		out[v] = s
	}
	return out, nil
})

// apiSchemaFor returns the schema of Envoy release version; an unknown
// version is a *Problem.
func apiSchemaFor(version string) (*apiSchema, error) {
	all, err := apiSchemas()
	if err != nil {
		return nil, err
	}
	if s, ok := all[version]; ok {
		return s, nil
	}
	return nil, &Problem{Reason: fmt.Sprintf("no API schema for Envoy version %q: want one of %s", version, strings.Join(apiVersions(all), ", "))}
}

// apiVersions lists the versions that have a schema, sorted.
func apiVersions(all map[string]*apiSchema) []string {
	vs := make([]string, 0, len(all))
	for v := range all {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

func readAPISchema(name, version string) (*apiSchema, error) {
	f, err := apiData.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return parseAPISchema(zr, version)
}

// maxSchemaLine bounds one line of a schema (the longest, a message with
// every field name, is about 3 kB).
const maxSchemaLine = 1 << 20

// parseAPISchema reads the text of a schema (see apiData).
func parseAPISchema(r io.Reader, version string) (*apiSchema, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxSchemaLine)
	if !sc.Scan() {
		return nil, fmt.Errorf("empty (%v)", sc.Err())
	}
	magic, source, _ := strings.Cut(sc.Text(), " ")
	if magic != apiSchemaMagic {
		return nil, fmt.Errorf("header %q, want %s", sc.Text(), apiSchemaMagic)
	}
	s := &apiSchema{
		version:  version,
		source:   source,
		messages: make(map[protoreflect.FullName]map[protoreflect.Name]bool),
		enums:    make(map[protoreflect.FullName]map[protoreflect.Name]bool),
	}
	for line := 2; sc.Scan(); line++ {
		words := strings.Fields(sc.Text())
		if len(words) < 2 {
			return nil, fmt.Errorf("line %d: %q", line, sc.Text())
		}
		names := make(map[protoreflect.Name]bool, len(words)-2)
		for _, w := range words[2:] {
			names[protoreflect.Name(w)] = true
		}
		switch words[0] {
		case "M":
			s.messages[protoreflect.FullName(words[1])] = names
		case "E":
			s.enums[protoreflect.FullName(words[1])] = names
		default:
			return nil, fmt.Errorf("line %d: kind %q", line, words[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}
