package envoymodel

import (
	"net/http"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// headerMap is an ordered, lower-case header map with pseudo headers, like
// Envoy's Http::HeaderMap (source/common/http/header_map_impl.cc). One map is
// shared by the router and every attempt's upstream filters.
type headerMap struct {
	kv []header
}

type header struct{ k, v string }

func (h *headerMap) get(k string) (string, bool) {
	for _, e := range h.kv {
		if e.k == k {
			return e.v, true
		}
	}
	return "", false
}

func (h *headerMap) value(k string) string { v, _ := h.get(k); return v }

func (h *headerMap) has(k string) bool { _, ok := h.get(k); return ok }

// set replaces every value of k with v (setCopy).
func (h *headerMap) set(k, v string) {
	k = strings.ToLower(k)
	for i, e := range h.kv {
		if e.k == k {
			h.kv[i].v = v
			h.delFrom(k, i+1)
			return
		}
	}
	h.add(k, v)
}

func (h *headerMap) delFrom(k string, from int) {
	out := h.kv[:from]
	for _, e := range h.kv[from:] {
		if e.k != k {
			out = append(out, e)
		}
	}
	h.kv = out
}

// add appends a value (addCopy); pseudo headers stay in front.
func (h *headerMap) add(k, v string) {
	k = strings.ToLower(k)
	if strings.HasPrefix(k, ":") {
		i := 0
		for i < len(h.kv) && strings.HasPrefix(h.kv[i].k, ":") {
			i++
		}
		h.kv = append(h.kv, header{})
		copy(h.kv[i+1:], h.kv[i:])
		h.kv[i] = header{k, v}
		return
	}
	h.kv = append(h.kv, header{k, v})
}

func (h *headerMap) del(k string) { h.delFrom(strings.ToLower(k), 0) }

// proto renders the map as ext_proc sends it: raw_value only
// (mutation_utils.cc headersToProto with envoy.reloadable_features.send_header_raw_value).
func (h *headerMap) proto() *corev3.HeaderMap {
	out := &corev3.HeaderMap{}
	for _, e := range h.kv {
		out.Headers = append(out.Headers, &corev3.HeaderValue{Key: e.k, RawValue: []byte(e.v)})
	}
	return out
}

// hopByHop are the connection-specific headers an HTTP/1 codec strips.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "te": true, "upgrade": true,
}

// fromRequest builds the downstream request header map as the HCM codec
// would: :method, :scheme, :authority, :path, then the headers.
func fromRequest(r *http.Request) *headerMap {
	h := &headerMap{}
	h.add(":method", r.Method)
	h.add(":scheme", "http")
	h.add(":authority", r.Host)
	h.add(":path", r.URL.RequestURI())
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if hopByHop[lk] || lk == "host" || lk == "content-length" {
			continue
		}
		for _, v := range r.Header[k] {
			h.add(lk, v)
		}
	}
	if r.ContentLength >= 0 && (r.ContentLength > 0 || r.Body != http.NoBody) {
		h.add("content-length", itoa(int64(r.ContentLength)))
	}
	return h
}

// fromResponse builds a response header map with :status.
func fromResponse(status int, hdr http.Header) *headerMap {
	h := &headerMap{}
	h.add(":status", itoa(int64(status)))
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if hopByHop[lk] {
			continue
		}
		for _, v := range hdr[k] {
			h.add(lk, v)
		}
	}
	return h
}
