package envoymodel

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// attributesKey is the key ext_proc puts its attributes under in
// ProcessingRequest.attributes (ext_proc.cc: the filter name
// "envoy.filters.http.ext_proc").
const attributesKey = "envoy.filters.http.ext_proc"

// addRequestAttributes adds request_attributes to the first request-direction
// message only (ext_proc.cc: attributes are sent once per direction).
func (p *extProc) addRequestAttributes(req *extprocsvc.ProcessingRequest, h *headerMap) {
	if p.sentReqAttrs || len(p.cfg.pb.GetRequestAttributes()) == 0 {
		return
	}
	p.sentReqAttrs = true
	req.Attributes = map[string]*structpb.Struct{attributesKey: p.evalAttributes(p.cfg.pb.GetRequestAttributes(), h, nil)}
}

func (p *extProc) addResponseAttributes(req *extprocsvc.ProcessingRequest, resp *headerMap) {
	if p.sentRespAttrs || len(p.cfg.pb.GetResponseAttributes()) == 0 {
		return
	}
	p.sentRespAttrs = true
	req.Attributes = map[string]*structpb.Struct{attributesKey: p.evalAttributes(p.cfg.pb.GetResponseAttributes(), p.rs.reqHeaders, resp)}
}

// evalAttributes evaluates the attribute names the model knows. Envoy
// evaluates each with CEL and converts the result
// (source/extensions/filters/http/ext_proc/matching_utils.cc
// evaluateAttributes): strings and numbers stay typed, message-typed values
// are printed with Filters::Common::Expr::print, i.e. the protobuf text
// format on one line (ShortDebugString). Names that do not evaluate are left out.
func (p *extProc) evalAttributes(names []string, h *headerMap, resp *headerMap) *structpb.Struct {
	out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for _, n := range names {
		var v *structpb.Value
		switch n {
		case "request.path":
			v = structpb.NewStringValue(h.value(":path"))
		case "request.url_path":
			path := h.value(":path")
			if i := strings.IndexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
			v = structpb.NewStringValue(path)
		case "request.host":
			v = structpb.NewStringValue(h.value(":authority"))
		case "request.method":
			v = structpb.NewStringValue(h.value(":method"))
		case "request.scheme":
			v = structpb.NewStringValue(h.value(":scheme"))
		case "request.id":
			v = structpb.NewStringValue(h.value("x-request-id"))
		case "request.protocol":
			v = structpb.NewStringValue("HTTP/1.1")
		case "xds.route_name":
			v = structpb.NewStringValue(p.rs.routeName())
		case "xds.cluster_name":
			if p.attempt != nil {
				v = structpb.NewStringValue(p.attempt.cluster.name)
			} else if p.rs.clusterName != "" {
				v = structpb.NewStringValue(p.rs.clusterName)
			}
		case "xds.upstream_host_metadata":
			if p.attempt != nil && p.attempt.host != nil {
				v = structpb.NewStringValue(shortDebugString(p.attempt.host.md))
			}
		case "upstream.address":
			if p.attempt != nil && p.attempt.host != nil {
				v = structpb.NewStringValue(p.attempt.host.addr)
			}
		case "upstream.request_attempt_count":
			if p.attempt != nil {
				v = structpb.NewNumberValue(float64(p.attempt.n))
			} else if p.rs.attempt > 0 {
				v = structpb.NewNumberValue(float64(p.rs.attempt))
			}
		case "source.address":
			// context.cc PeerWrapper: remoteAddress()->asStringView().
			v = structpb.NewStringValue(p.rs.downstream)
		case "connection.uri_san_peer_certificate":
			// context.cc ConnectionWrapper: SSL values come from the
			// downstream TLS connection only; the model serves plain
			// text, so (as Envoy without TLS) the attribute is absent.
		case "response.code":
			if resp != nil {
				if n, err := strconv.Atoi(resp.value(":status")); err == nil {
					v = structpb.NewNumberValue(float64(n))
				}
			}
		default:
			if m := metadataValue.FindStringSubmatch(n); m != nil {
				v = p.metadataAttribute(m[1], m[2])
			}
		}
		if v != nil {
			out.Fields[n] = v
		}
	}
	return out
}

// metadataValue is the one shape of CEL expression over the dynamic metadata
// the model evaluates: metadata.filter_metadata['<namespace>']['<key>'],
// both indexes string literals without quotes or escapes inside.
var metadataValue = regexp.MustCompile(`^metadata\.filter_metadata\['([^'\\]*)'\]\['([^'\\]*)'\]$`)

// metadataAttribute evaluates metadata.filter_metadata[ns][key]. "metadata"
// is the stream's dynamic metadata as a core.v3.Metadata message
// (source/extensions/filters/common/expr/evaluator.cc
// StreamActivation::FindValue, ActivationToken::Metadata), which an upstream
// filter shares with the downstream stream (source/common/router/upstream_request.cc
// UpstreamFilterManager::streamInfo returns the router's stream info). A
// missing namespace or key is a CEL error: the attribute is left out. The
// Struct value converts as CEL converts google.protobuf.Value: a string
// stays a string, a bool a bool (matching_utils.cc evaluateAttributes); a
// number is a CEL double, printed with absl::StrCat (evaluator.cc print;
// "%.6g" is a guess at absl's six digits), a struct or list prints as
// "map value" / "list value", null as "NULL".
func (p *extProc) metadataAttribute(ns, key string) *structpb.Value {
	s := p.rs.getMD(ns)
	if s == nil {
		return nil
	}
	v, ok := s.GetFields()[key]
	if !ok {
		return nil
	}
	return CELValue(v)
}

// CELValue is v as an ext_proc attribute carries a metadata value read
// through CEL: a string or a bool as itself, a number as CEL prints a
// double, a struct or a list as "map value" or "list value", null as
// "NULL" (the load harness, package loadgen, converts the same way).
func CELValue(v *structpb.Value) *structpb.Value {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return structpb.NewStringValue(k.StringValue)
	case *structpb.Value_BoolValue:
		return structpb.NewBoolValue(k.BoolValue)
	case *structpb.Value_NumberValue:
		return structpb.NewStringValue(fmt.Sprintf("%.6g", k.NumberValue))
	case *structpb.Value_StructValue:
		return structpb.NewStringValue("map value")
	case *structpb.Value_ListValue:
		return structpb.NewStringValue("list value")
	}
	return structpb.NewStringValue("NULL")
}

// shortDebugString prints a core Metadata like C++ Message::ShortDebugString:
// fields in field-number order, map entries sorted by key, one line, single
// spaces. Go's prototext is deliberately unstable in its spacing, so the
// model prints by hand. typed_filter_metadata is not printed (guess: not
// used by llm-failover). Doubles use the shortest round-trip form like
// absl's SimpleDtoa (guess for exponents).
func shortDebugString(md *corev3.Metadata) string {
	if md == nil {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(md.GetFilterMetadata()) {
		parts = append(parts, "filter_metadata { key: "+quoteC(k)+" value { "+structText(md.GetFilterMetadata()[k])+"} }")
	}
	return strings.Join(parts, " ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// structText prints the fields of a Struct, each followed by a space.
func structText(s *structpb.Struct) string {
	var b strings.Builder
	for _, k := range sortedKeys(s.GetFields()) {
		b.WriteString("fields { key: " + quoteC(k) + " value { " + valueText(s.GetFields()[k]) + "} } ")
	}
	return b.String()
}

// valueText prints the set field of a Value followed by a space.
func valueText(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return "null_value: NULL_VALUE "
	case *structpb.Value_NumberValue:
		return "number_value: " + strconv.FormatFloat(k.NumberValue, 'g', -1, 64) + " "
	case *structpb.Value_StringValue:
		return "string_value: " + quoteC(k.StringValue) + " "
	case *structpb.Value_BoolValue:
		return "bool_value: " + strconv.FormatBool(k.BoolValue) + " "
	case *structpb.Value_StructValue:
		return "struct_value { " + structText(k.StructValue) + "} "
	case *structpb.Value_ListValue:
		var b strings.Builder
		b.WriteString("list_value { ")
		for _, e := range k.ListValue.GetValues() {
			b.WriteString("values { " + valueText(e) + "} ")
		}
		b.WriteString("} ")
		return b.String()
	}
	return ""
}

// quoteC quotes like protobuf's text format (CEscape for control bytes;
// valid UTF-8 kept as is, guess).
func quoteC(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'':
			b.WriteString(`\'`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			b.WriteString("\\" + strconv.FormatInt(int64(s[i]), 8))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}
