package processor

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/llm-failover/llm-failover/contract"
)

// mutation collects header changes; only raw_value is set (Envoy reads only it).
type mutation struct {
	set    []*corev3.HeaderValueOption
	remove []string
}

// headerPair is one set header's two messages, allocated together: one
// allocation instead of two per header, and no room left unused.
type headerPair struct {
	opt corev3.HeaderValueOption
	hv  corev3.HeaderValue
}

func (m *mutation) setHeader(k, v string) {
	p := &headerPair{}
	p.hv.Key, p.hv.RawValue = k, []byte(v)
	p.opt.Header, p.opt.AppendAction = &p.hv, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	m.set = append(m.set, &p.opt)
}

func (m *mutation) removeHeader(k string) { m.remove = append(m.remove, k) }

func (m *mutation) proto() *extprocv3.HeaderMutation {
	if m == nil || len(m.set) == 0 && len(m.remove) == 0 {
		return nil
	}
	return &extprocv3.HeaderMutation{SetHeaders: m.set, RemoveHeaders: m.remove}
}

func common(m *mutation) *extprocv3.CommonResponse {
	return &extprocv3.CommonResponse{HeaderMutation: m.proto()}
}

// The four answers' messages: the ProcessingResponse, its oneof wrapper
// and the Headers/BodyResponse are allocated together (one allocation per
// answer instead of three; an SSE answer makes one per chunk).
type (
	requestHeadersAnswer struct {
		r  extprocv3.ProcessingResponse
		w  extprocv3.ProcessingResponse_RequestHeaders
		hr extprocv3.HeadersResponse
	}
	requestBodyAnswer struct {
		r  extprocv3.ProcessingResponse
		w  extprocv3.ProcessingResponse_RequestBody
		br extprocv3.BodyResponse
	}
	responseHeadersAnswer struct {
		r  extprocv3.ProcessingResponse
		w  extprocv3.ProcessingResponse_ResponseHeaders
		hr extprocv3.HeadersResponse
	}
	responseBodyAnswer struct {
		r  extprocv3.ProcessingResponse
		w  extprocv3.ProcessingResponse_ResponseBody
		br extprocv3.BodyResponse
	}
)

func requestHeadersResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	x := &requestHeadersAnswer{}
	x.hr.Response, x.w.RequestHeaders, x.r.Response = c, &x.hr, &x.w
	return &x.r
}

func requestBodyResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	x := &requestBodyAnswer{}
	x.br.Response, x.w.RequestBody, x.r.Response = c, &x.br, &x.w
	return &x.r
}

func responseHeadersResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	x := &responseHeadersAnswer{}
	x.hr.Response, x.w.ResponseHeaders, x.r.Response = c, &x.hr, &x.w
	return &x.r
}

func responseBodyResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	x := &responseBodyAnswer{}
	x.br.Response, x.w.ResponseBody, x.r.Response = c, &x.br, &x.w
	return &x.r
}

// bodyAnswer is a response body answer made as one allocation instead of
// six: a streamed answer sends one per chunk. Never copied: the messages
// point into it.
type bodyAnswer struct {
	resp     extprocv3.ProcessingResponse
	oneof    extprocv3.ProcessingResponse_ResponseBody
	body     extprocv3.BodyResponse
	common   extprocv3.CommonResponse
	mutation extprocv3.BodyMutation
	replace  extprocv3.BodyMutation_Body
}

// newBodyAnswer is a response body answer with header mutation m (nil for
// none) and no body mutation.
func newBodyAnswer(m *mutation) *bodyAnswer {
	a := &bodyAnswer{}
	a.common.HeaderMutation = m.proto()
	a.body.Response = &a.common
	a.oneof.ResponseBody = &a.body
	a.resp.Response = &a.oneof
	return a
}

// replaceBody is a body response that replaces the chunk with b.
func replaceBody(b []byte, m *mutation) *extprocv3.ProcessingResponse {
	a := newBodyAnswer(m)
	a.replace.Body = b
	a.mutation.Mutation = &a.replace
	a.common.BodyMutation = &a.mutation
	return &a.resp
}

// continueBody is a body response that passes the chunk unchanged.
func continueBody() *extprocv3.ProcessingResponse { return &newBodyAnswer(nil).resp }

// immediate answers the client directly with an OpenAI-style JSON error; the
// local reply's response code details are contract.DetailsPrefix + code.
func immediate(statusCode int, body []byte, code string, extra *mutation) *extprocv3.ProcessingResponse {
	m := &mutation{}
	m.setHeader("content-type", "application/json")
	if extra != nil {
		m.set = append(m.set, extra.set...)
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(statusCode)},
			Headers: m.proto(),
			Body:    body,
			Details: contract.DetailsPrefix + code,
		}}}
}

// headerMap reads an ext_proc header map into a lower-case key map (the last
// value wins), preferring raw_value.
func headerMap(h *corev3.HeaderMap) map[string]string {
	out := make(map[string]string, 16)
	if h == nil {
		return out
	}
	for _, hv := range h.GetHeaders() {
		v := hv.GetValue()
		if len(hv.GetRawValue()) > 0 {
			v = string(hv.GetRawValue())
		}
		out[hv.GetKey()] = v
	}
	return out
}

// headerValue is the value of header name (lowercase, as Envoy sends
// names) in h, the last one when it repeats, as headerMap keeps it: a scan
// of the list, for a message that needs a few names and not a map.
func headerValue(h *corev3.HeaderMap, name string) string {
	hs := h.GetHeaders()
	for i := len(hs) - 1; i >= 0; i-- {
		if hv := hs[i]; hv.GetKey() == name {
			if len(hv.GetRawValue()) > 0 {
				return string(hv.GetRawValue())
			}
			return hv.GetValue()
		}
	}
	return ""
}

func statusOf(h map[string]string) int { return parseStatus(h[":status"]) }

// parseStatus reads a :status value; 0 when it is not a number.
func parseStatus(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return n
}

// trailersResponse answers a trailers message unchanged (our filters skip
// trailers; a message arriving anyway is answered, not an error).
func trailersResponse(req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	if _, ok := req.Request.(*extprocv3.ProcessingRequest_RequestTrailers); ok {
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocv3.TrailersResponse{}}}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
		ResponseTrailers: &extprocv3.TrailersResponse{}}}
}
