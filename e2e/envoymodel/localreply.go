package envoymodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// localReplyConfig is the HCM local_reply_config
// (source/common/local_reply/local_reply.cc LocalReplyImpl). Modelled:
// mappers with filter (and_filter, or_filter, status_code_filter,
// the CEL extension filter over response.code_details), body (inline),
// body_format_override (json_format with %LOCAL_REPLY_BODY%,
// %RESPONSE_CODE%, %RESPONSE_CODE_DETAILS%; content_type). Anything else is
// refused when the model is built.
type localReplyConfig struct {
	mappers []*responseMapper
}

type responseMapper struct {
	filter    *logFilter
	body      *string
	formatter *bodyFormatter
}

// bodyFormatter is local_reply.cc BodyFormatter: a json_format and its content type.
type bodyFormatter struct {
	json        *structpb.Struct
	contentType string
}

// logFilter is an AccessLogFilter (source/common/access_log/access_log_impl.cc).
type logFilter struct {
	and, or []*logFilter
	// status_code_filter
	cmp       *accesslogv3.ComparisonFilter
	hasStatus bool
	// CEL: a conjunction of terms over response.code_details.
	cel []celTerm
}

// celTerm is one term of the modelled CEL subset:
// [!]response.code_details.startsWith('x') or response.code_details (==|!=) 'x'.
type celTerm struct {
	not    bool
	prefix bool
	lit    string
}

var celTermRE = regexp.MustCompile(`^(!?)response\.code_details(?:\.startsWith\('([^'\\]*)'\)|\s*(==|!=)\s*'([^'\\]*)')$`)

func compileCEL(expr string) ([]celTerm, error) {
	var out []celTerm
	for _, part := range strings.Split(expr, "&&") {
		m := celTermRE.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			return nil, fmt.Errorf("envoymodel: CEL access log filter %q: only [!]response.code_details.startsWith('x') and response.code_details ==/!= 'x' joined by && are modelled", expr)
		}
		if m[3] != "" {
			out = append(out, celTerm{not: m[3] == "!=", lit: m[4]})
			if m[1] != "" {
				return nil, fmt.Errorf("envoymodel: CEL access log filter %q: '!' before a comparison is not modelled", expr)
			}
			continue
		}
		out = append(out, celTerm{not: m[1] == "!", prefix: true, lit: m[2]})
	}
	return out, nil
}

func compileLogFilter(f *accesslogv3.AccessLogFilter) (*logFilter, error) {
	if f == nil {
		// local_reply.cc: a mapper without a filter never matches
		// (AccessLog::FilterFactory::fromProto returns nullptr).
		return nil, nil
	}
	switch s := f.GetFilterSpecifier().(type) {
	case *accesslogv3.AccessLogFilter_AndFilter, *accesslogv3.AccessLogFilter_OrFilter:
		var subs []*accesslogv3.AccessLogFilter
		if a, ok := s.(*accesslogv3.AccessLogFilter_AndFilter); ok {
			subs = a.AndFilter.GetFilters()
		} else {
			subs = s.(*accesslogv3.AccessLogFilter_OrFilter).OrFilter.GetFilters()
		}
		lf := &logFilter{}
		for _, sf := range subs {
			c, err := compileLogFilter(sf)
			if err != nil {
				return nil, err
			}
			if c == nil {
				return nil, fmt.Errorf("envoymodel: empty access log filter inside and/or")
			}
			if _, ok := s.(*accesslogv3.AccessLogFilter_AndFilter); ok {
				lf.and = append(lf.and, c)
			} else {
				lf.or = append(lf.or, c)
			}
		}
		return lf, nil
	case *accesslogv3.AccessLogFilter_StatusCodeFilter:
		return &logFilter{cmp: s.StatusCodeFilter.GetComparison(), hasStatus: true}, nil
	case *accesslogv3.AccessLogFilter_ExtensionFilter:
		ef := &celv3.ExpressionFilter{}
		if tc := s.ExtensionFilter.GetTypedConfig(); tc == nil || tc.UnmarshalTo(ef) != nil {
			return nil, fmt.Errorf("envoymodel: access log extension filter %q: only envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter is modelled", s.ExtensionFilter.GetName())
		}
		terms, err := compileCEL(ef.GetExpression())
		if err != nil {
			return nil, err
		}
		return &logFilter{cel: terms}, nil
	}
	return nil, fmt.Errorf("envoymodel: access log filter %T is not modelled in local_reply_config", f.GetFilterSpecifier())
}

// match evaluates the filter on a local reply's status and response code
// details (the StreamInfo the mapper sees).
func (f *logFilter) match(status int, details string) bool {
	switch {
	case f.and != nil:
		// access_log_impl.cc AndFilter: every sub-filter.
		for _, s := range f.and {
			if !s.match(status, details) {
				return false
			}
		}
		return true
	case f.or != nil:
		for _, s := range f.or {
			if s.match(status, details) {
				return true
			}
		}
		return false
	case f.hasStatus:
		// access_log_impl.cc StatusCodeFilter -> ComparisonFilter::compare on
		// stream_info.responseCode() (LocalReplyImpl::rewrite sets it first);
		// the runtime key is not modelled, its default_value is used.
		v := uint64(f.cmp.GetValue().GetDefaultValue())
		switch f.cmp.GetOp() {
		case accesslogv3.ComparisonFilter_GE:
			return uint64(status) >= v
		case accesslogv3.ComparisonFilter_LE:
			return uint64(status) <= v
		default:
			return uint64(status) == v
		}
	case f.cel != nil:
		// source/extensions/access_loggers/filters/cel/cel.cc: the expression
		// must evaluate to true; response.code_details is
		// StreamInfo::responseCodeDetails (filter_manager.cc sets it before
		// the local reply is prepared).
		for _, t := range f.cel {
			var ok bool
			if t.prefix {
				ok = strings.HasPrefix(details, t.lit)
			} else {
				ok = details == t.lit
			}
			if ok == t.not {
				return false
			}
		}
		return true
	}
	return false
}

func compileLocalReply(pb *hcmv3.LocalReplyConfig) (*localReplyConfig, error) {
	if pb == nil {
		return nil, nil
	}
	if pb.GetBodyFormat() != nil {
		return nil, fmt.Errorf("envoymodel: local_reply_config.body_format is not modelled (only mappers' body_format_override)")
	}
	lr := &localReplyConfig{}
	for i, mp := range pb.GetMappers() {
		if mp.GetStatusCode() != nil || len(mp.GetHeadersToAdd()) > 0 {
			return nil, fmt.Errorf("envoymodel: local_reply_config.mappers[%d]: status_code and headers_to_add are not modelled", i)
		}
		f, err := compileLogFilter(mp.GetFilter())
		if err != nil {
			return nil, fmt.Errorf("local_reply_config.mappers[%d]: %w", i, err)
		}
		rm := &responseMapper{filter: f}
		if b := mp.GetBody(); b != nil {
			var s string
			switch sp := b.GetSpecifier().(type) {
			case *corev3.DataSource_InlineString:
				s = sp.InlineString
			case *corev3.DataSource_InlineBytes:
				s = string(sp.InlineBytes)
			default:
				return nil, fmt.Errorf("envoymodel: local_reply_config.mappers[%d].body: only inline bodies are modelled", i)
			}
			rm.body = &s
		}
		if bf := mp.GetBodyFormatOverride(); bf != nil {
			jf := bf.GetJsonFormat()
			if jf == nil {
				return nil, fmt.Errorf("envoymodel: local_reply_config.mappers[%d].body_format_override: only json_format is modelled", i)
			}
			if err := checkFormat(jf); err != nil {
				return nil, fmt.Errorf("envoymodel: local_reply_config.mappers[%d].body_format_override: %w", i, err)
			}
			ct := bf.GetContentType()
			if ct == "" {
				// local_reply.cc BodyFormatter: json_format defaults to application/json.
				ct = "application/json"
			}
			rm.formatter = &bodyFormatter{json: jf, contentType: ct}
		}
		lr.mappers = append(lr.mappers, rm)
	}
	return lr, nil
}

// formatOperatorRE finds command operators in a format string.
var formatOperatorRE = regexp.MustCompile(`%[A-Z_]+(?:\([^)]*\))?%`)

var modelledOperators = map[string]bool{"%LOCAL_REPLY_BODY%": true, "%RESPONSE_CODE%": true, "%RESPONSE_CODE_DETAILS%": true}

func checkFormat(s *structpb.Struct) error {
	for k, v := range s.GetFields() {
		switch x := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			for _, op := range formatOperatorRE.FindAllString(x.StringValue, -1) {
				if !modelledOperators[op] {
					return fmt.Errorf("json_format key %q: command operator %s is not modelled", k, op)
				}
			}
		case *structpb.Value_StructValue:
			if err := checkFormat(x.StructValue); err != nil {
				return err
			}
		case *structpb.Value_ListValue:
			return fmt.Errorf("json_format key %q: lists are not modelled", k)
		}
	}
	return nil
}

// rewrite is LocalReplyImpl::rewrite followed by the rest of
// source/common/http/utility.cc prepareLocalReply, on a local reply whose
// header callbacks (ImmediateResponse header mutation, route
// response_headers_to_add) already ran: modify_headers comes before rewrite
// there. It is applied to downstream local replies only, never to upstream
// responses.
func (c *localReplyConfig) rewrite(resp *response) {
	if c == nil || !resp.local {
		return
	}
	bb, ok := resp.body.(*bytesBody)
	if !ok {
		return
	}
	status := atoiOr(resp.headers.value(":status"), 0)
	orig := string(bb.b)
	body := orig
	var final *bodyFormatter
	for _, mp := range c.mappers {
		if mp.filter == nil || !mp.filter.match(status, resp.details) {
			continue
		}
		if mp.body != nil {
			body = *mp.body
		}
		final = mp.formatter
		break
	}
	// Without a formatter the default one formats "%LOCAL_REPLY_BODY%":
	// the body as it is, content type text/plain.
	contentType := "text/plain"
	if final != nil {
		body = final.format(body, status, resp.details)
		contentType = final.contentType
	}
	if body == orig && final == nil {
		return
	}
	// utility.cc prepareLocalReply: a non-empty body gets its length, and the
	// content type when the reply has none or the rewrite changed the body
	// (headers_to_add, which could set a custom type, is not modelled).
	if body != "" {
		resp.headers.set("content-length", itoa(int64(len(body))))
		if !resp.headers.has("content-type") || body != orig {
			resp.headers.set("content-type", contentType)
		}
	} else {
		resp.headers.del("content-length")
		resp.headers.del("content-type")
	}
	resp.body = &bytesBody{b: []byte(body), onClose: bb.onClose}
}

// format renders json_format (source/common/formatter/substitution_formatter.cc
// JsonFormatterImpl, the pre-serialized formatter of Envoy PR #35545): a
// string holding exactly one command operator takes the operator's typed
// value (%RESPONSE_CODE% a number, %RESPONSE_CODE_DETAILS% null when unset),
// other strings are text with operators substituted ("-" for an unset one),
// null/number/bool literals pass through; the output ends in "\n". Key order
// here is sorted (guess: clients must not depend on it).
func (f *bodyFormatter) format(body string, status int, details string) string {
	v := formatValue(structpb.NewStructValue(f.json), body, status, details)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return body
	}
	return buf.String()
}

func formatValue(v *structpb.Value, body string, status int, details string) any {
	switch x := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		out := map[string]any{}
		for k, fv := range x.StructValue.GetFields() {
			out[k] = formatValue(fv, body, status, details)
		}
		return out
	case *structpb.Value_StringValue:
		op := func(name string) (any, string) {
			switch name {
			case "%LOCAL_REPLY_BODY%":
				return body, body
			case "%RESPONSE_CODE%":
				return status, itoa(int64(status))
			case "%RESPONSE_CODE_DETAILS%":
				if details == "" {
					return nil, "-"
				}
				return details, details
			}
			return nil, "-"
		}
		s := x.StringValue
		if formatOperatorRE.MatchString(s) && formatOperatorRE.FindString(s) == s {
			typed, _ := op(s)
			return typed
		}
		return formatOperatorRE.ReplaceAllStringFunc(s, func(m string) string { _, t := op(m); return t })
	case *structpb.Value_NumberValue:
		return x.NumberValue
	case *structpb.Value_BoolValue:
		return x.BoolValue
	}
	return nil
}

func atoiOr(s string, def int) int {
	n, err := parseUint(s)
	if err != nil {
		return def
	}
	return int(n)
}
