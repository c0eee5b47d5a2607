package loadgen

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Header is one header, its name in lower case as Envoy's HTTP/2 and
// header maps keep it.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Headers is an ordered header map.
type Headers []Header

// H makes Headers from name, value pairs.
func H(kv ...string) Headers {
	h := make(Headers, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, Header{strings.ToLower(kv[i]), kv[i+1]})
	}
	return h
}

func (h Headers) clone() Headers { return append(Headers(nil), h...) }

// Get returns the first value of key.
func (h Headers) Get(key string) (string, bool) {
	for _, kv := range h {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

func (h *Headers) del(key string) {
	out := (*h)[:0]
	for _, kv := range *h {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	*h = out
}

func (h *Headers) set(key, value string) {
	for i, kv := range *h {
		if kv.Key == key {
			(*h)[i].Value = value
			h.delAfter(key, i)
			return
		}
	}
	*h = append(*h, Header{key, value})
}

func (h *Headers) delAfter(key string, i int) {
	out := (*h)[:i+1]
	for _, kv := range (*h)[i+1:] {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	*h = out
}

// proto is the HeaderMap Envoy sends: values as raw_value
// (mutation_utils.cc headersToProto since 1.30).
func (h Headers) proto() *corev3.HeaderMap {
	out := &corev3.HeaderMap{Headers: make([]*corev3.HeaderValue, len(h))}
	for i, kv := range h {
		out.Headers[i] = &corev3.HeaderValue{Key: kv.Key, RawValue: []byte(kv.Value)}
	}
	return out
}

// apply applies a header mutation as the Envoy model does
// (e2e/envoymodel/mutation.go, after mutation_utils.cc
// applyHeaderMutations): removals, then each set header's raw_value, added
// when its deprecated append flag is set, else replacing. The mutation
// rules are not checked: the harness drives servers, it does not judge them.
func (h *Headers) apply(m *extprocsvc.HeaderMutation) (changed int) {
	for _, k := range m.GetRemoveHeaders() {
		h.del(strings.ToLower(k))
		changed++
	}
	for _, o := range m.GetSetHeaders() {
		k := strings.ToLower(o.GetHeader().GetKey())
		v := string(o.GetHeader().GetRawValue())
		//lint:ignore SA1019 Envoy 1.40 still honours the deprecated append field
		if o.GetAppend().GetValue() {
			*h = append(*h, Header{k, v})
		} else {
			h.set(k, v)
		}
		changed++
	}
	return changed
}
