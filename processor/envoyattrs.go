package processor

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/llm-failover/llm-failover/contract"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/structpb"
)

// This file reads the Envoy attributes the attempt phase relies on
// (docs/envoy-contract.md).

// attemptCount reads upstream.request_attempt_count (a number, or a string),
// falling back to the x-envoy-attempt-count header of h, then 1.
func attemptCount(attrs *structpb.Struct, h *corev3.HeaderMap) int {
	if v := attrs.GetFields()[contract.AttrAttemptCount]; v != nil {
		switch k := v.Kind.(type) {
		case *structpb.Value_NumberValue:
			if k.NumberValue >= 1 && k.NumberValue < 1e6 {
				return int(k.NumberValue)
			}
		case *structpb.Value_StringValue:
			if n, err := strconv.Atoi(k.StringValue); err == nil && n >= 1 {
				return n
			}
		}
	}
	if n, err := strconv.Atoi(headerValue(h, "x-envoy-attempt-count")); err == nil && n >= 1 {
		return n
	}
	return 1
}

// hostProvider reads the provider name from xds.upstream_host_metadata: the
// text format of the endpoint's core.v3.Metadata (Envoy prints message-typed
// CEL values with ShortDebugString), or a Struct of the same shape.
func (s *Server) hostProvider(attrs *structpb.Struct) string {
	v := attrs.GetFields()[contract.AttrHostMetadata]
	if v == nil {
		return ""
	}
	if text, ok := v.Kind.(*structpb.Value_StringValue); ok {
		// One string per endpoint: parse each once.
		if p, ok := s.hosts.Load(text.StringValue); ok {
			return p.(string)
		}
		p := parseHostProvider(v)
		if len(text.StringValue) <= maxHostCacheKey && s.hostsLen.Add(1) <= maxHostCache {
			s.hosts.Store(text.StringValue, p)
		}
		return p
	}
	return parseHostProvider(v)
}

// maxHostCache bounds the parsed host metadata cache, and maxHostCacheKey
// the length of a cached string (Envoy's are a few hundred bytes; a caller
// other than Envoy could send megabytes).
const (
	maxHostCache    = 4096
	maxHostCacheKey = 4096
)

func parseHostProvider(v *structpb.Value) string {
	var fm map[string]*structpb.Struct
	switch k := v.Kind.(type) {
	case *structpb.Value_StringValue:
		var md corev3.Metadata
		if err := prototext.Unmarshal([]byte(k.StringValue), &md); err != nil {
			return ""
		}
		fm = md.GetFilterMetadata()
	case *structpb.Value_StructValue:
		f := k.StructValue.GetFields()["filter_metadata"].GetStructValue()
		if f == nil {
			f = k.StructValue
		}
		fm = map[string]*structpb.Struct{}
		for ns, s := range f.GetFields() {
			fm[ns] = s.GetStructValue()
		}
	}
	return fm[contract.EndpointNamespace].GetFields()["provider"].GetStringValue()
}
