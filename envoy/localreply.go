package envoy

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/contract"
)

// The HCM local_reply_config gives Envoy's own local replies (no healthy
// upstream, upstream overflow, retries exhausted, 413 over the buffer limit,
// ext_proc gRPC errors and message timeouts) an OpenAI-style JSON body, and
// leaves the answers that already are JSON alone.
//
// How Envoy applies it (Envoy 1.40 source):
//   - source/common/http/filter_manager.cc sendLocalReplyViaFilterChain /
//     prepareLocalReplyViaFilterChain / sendDirectLocalReply: every downstream
//     local reply (router, ext_proc ImmediateResponse and errors, buffer
//     limits, direct_response) runs Utility::prepareLocalReply with
//     modify_headers = route finalizeResponseHeaders + the caller's header
//     callback, and rewrite = LocalReply::rewrite; response code details are
//     set (streamInfo().setResponseCodeDetails) before either.
//   - source/common/http/utility.cc prepareLocalReply: modify_headers runs
//     BEFORE rewrite, then the body's content-type is set only when the
//     reply has none or the rewrite changed the body.
//   - source/common/local_reply/local_reply.cc LocalReplyImpl::rewrite: the
//     first mapper whose filter matches wins (its body replaces
//     %LOCAL_REPLY_BODY%, its body_format_override formats the body); no
//     match formats with the default "%LOCAL_REPLY_BODY%", i.e. the body is
//     unchanged, so an unmatched reply is exactly what it would be without
//     local_reply_config (no top-level body_format is set on purpose).
//   - source/extensions/filters/http/ext_proc/ext_proc.cc
//     sendImmediateResponse: sendLocalReply(status, body, header mutation,
//     grpc_status, details = ImmediateResponse.details with spaces replaced);
//     an upstream (attempt phase) filter's local reply goes to the downstream
//     filter manager (source/common/router/upstream_request.cc
//     UpstreamFilterManager::sendLocalReply), so it is
//     rewritten like any other.
//   - source/common/router/router.cc: direct_response is sendLocalReply with
//     details "direct_response".
//
// The discriminator: a header_filter cannot tell our JSON apart, because
// source/common/access_log/access_log_impl.cc HeaderFilter::evaluate matches
// the REQUEST headers, not the local reply's content-type. The response code
// details can: every ImmediateResponse of the llm-failover server carries
// details "llm_failover_<code>" (contract.DetailsPrefix), and the
// catch-all route's direct_response has "direct_response". The CEL access
// log filter (source/extensions/access_loggers/filters/cel, attribute
// response.code_details) excludes both; an evaluation error counts as no
// match, which leaves the reply unchanged.
const (
	celFilterName = "envoy.access_loggers.extension_filters.cel"

	// notOurReply is true for a local reply that is not one of our own JSON answers.
	notOurReply = `!response.code_details.startsWith('` + contract.DetailsPrefix + `') && response.code_details != 'direct_response'`
	// extProcError is true for the ext_proc filter's own failures (gRPC error,
	// message timeout, rejected mutation), whose bodies are empty.
	extProcError = `response.code_details.startsWith('ext_proc_error')`

	// extProcErrorMessage replaces the empty body of an ext_proc failure.
	extProcErrorMessage = "The gateway could not reach its request processor (llm-failover)."
)

// localReplyConfig is the HCM local_reply_config: three mappers, first match
// wins (local_reply.cc).
func localReplyConfig() *hcmv3.LocalReplyConfig {
	return &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{
		{
			Filter:             celFilter(extProcError),
			Body:               &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: extProcErrorMessage}},
			BodyFormatOverride: openAIErrorFormat("server_error"),
		},
		{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{
				Filters: []*accesslogv3.AccessLogFilter{
					celFilter(notOurReply),
					{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
						Comparison: &accesslogv3.ComparisonFilter{
							Op:    accesslogv3.ComparisonFilter_GE,
							Value: &corev3.RuntimeUInt32{DefaultValue: 500, RuntimeKey: "llm_failover.local_reply.server_error_min"},
						},
					}}},
				},
			}}},
			BodyFormatOverride: openAIErrorFormat("server_error"),
		},
		{
			Filter:             celFilter(notOurReply),
			BodyFormatOverride: openAIErrorFormat("invalid_request_error"),
		},
	}}
}

func celFilter(expr string) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ExtensionFilter{ExtensionFilter: &accesslogv3.ExtensionFilter{
		Name:       celFilterName,
		ConfigType: &accesslogv3.ExtensionFilter_TypedConfig{TypedConfig: mustAny(&celv3.ExpressionFilter{Expression: expr})},
	}}}
}

// openAIErrorFormat is {"error":{"message","type","param","code"}} with the
// local reply's body as message and its response code details as code.
func openAIErrorFormat(typ string) *corev3.SubstitutionFormatString {
	inner := &structpb.Struct{Fields: map[string]*structpb.Value{
		"message": structpb.NewStringValue("%LOCAL_REPLY_BODY%"),
		"type":    structpb.NewStringValue(typ),
		"param":   structpb.NewNullValue(),
		"code":    structpb.NewStringValue("%RESPONSE_CODE_DETAILS%"),
	}}
	return &corev3.SubstitutionFormatString{
		Format:      &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: &structpb.Struct{Fields: map[string]*structpb.Value{"error": structpb.NewStructValue(inner)}}},
		ContentType: "application/json",
	}
}
