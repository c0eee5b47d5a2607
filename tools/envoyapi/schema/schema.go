package schema

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Magic is the first word of a schema; the main module's reader refuses any
// other. Bump the number when the line format changes.
const Magic = "envoy-api-schema/1"

// Write writes, gzipped, the compact schema of every file in files that Envoy
// can load: one header line "Magic source", then one line per message
// ("M full.name field_a field_b ...") and per enum ("E full.name VALUE_A ..."),
// sorted, with names sorted inside a line. Map entry messages are left out
// (a map field's value type has its own line). The output is byte-for-byte
// stable for the same input.
func Write(w io.Writer, source string, files *protoregistry.Files) error {
	var lines []string
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !Loadable(fd.Package()) {
			return true
		}
		lines = appendMessages(lines, fd.Messages())
		lines = appendEnums(lines, fd.Enums())
		return true
	})
	sort.Strings(lines)
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	fmt.Fprintf(bw, "%s %s\n", Magic, source)
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

func appendMessages(lines []string, mds protoreflect.MessageDescriptors) []string {
	for i := 0; i < mds.Len(); i++ {
		md := mds.Get(i)
		if md.IsMapEntry() {
			continue
		}
		names := make([]string, 0, md.Fields().Len())
		for j := 0; j < md.Fields().Len(); j++ {
			names = append(names, string(md.Fields().Get(j).Name()))
		}
		lines = append(lines, line("M", md.FullName(), names))
		lines = appendMessages(lines, md.Messages())
		lines = appendEnums(lines, md.Enums())
	}
	return lines
}

func appendEnums(lines []string, eds protoreflect.EnumDescriptors) []string {
	for i := 0; i < eds.Len(); i++ {
		ed := eds.Get(i)
		names := make([]string, 0, ed.Values().Len())
		for j := 0; j < ed.Values().Len(); j++ {
			names = append(names, string(ed.Values().Get(j).Name()))
		}
		lines = append(lines, line("E", ed.FullName(), names))
	}
	return lines
}

func line(kind string, name protoreflect.FullName, names []string) string {
	sort.Strings(names)
	return kind + " " + string(name) + " " + strings.Join(names, " ")
}

// frozen matches the last element of a proto package of Envoy's frozen v2
// API (envoy.api.v2, envoy.config.filter.http.buffer.v2, ...v2alpha,
// ...v1alpha1), which go-control-plane still ships but Envoy has not loaded
// since 1.18.
var frozen = regexp.MustCompile(`^v[12](alpha[0-9]*)?$`)

// Loadable reports whether Envoy loads types of proto package pkg: all but
// the frozen v2 API (including envoy.api.v2.* and the unversioned envoy.type
// and envoy.type.matcher packages of that era).
func Loadable(pkg protoreflect.FullName) bool {
	if !strings.HasPrefix(string(pkg), "envoy.") {
		return true
	}
	if pkg == "envoy.type" || pkg == "envoy.type.matcher" || pkg == "envoy.api.v2" || strings.HasPrefix(string(pkg), "envoy.api.v2.") {
		return false
	}
	return !frozen.MatchString(string(pkg.Name()))
}
