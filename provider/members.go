package provider

import (
	"strings"

	"github.com/tidwall/gjson"
)

// This file reads JSON objects and arrays as source text, decoding nothing:
// gjson's ForEach decodes every value it passes over (strings unescaped,
// numbers parsed), yet a chat message's content, most of a request body, is
// copied to the target as written (appendRawString) or not read at all
// (Check), and a stream event's judge and usage meter read a few members.
// Inspect, the chat reader, the usage meter and the OpenAI event judge walk
// members with it and decode (gjson.Parse) only the values they read. On
// valid JSON each walk sees what gjson's ForEach sees (fuzzed against it:
// FuzzInspectBody, FuzzReadMessage, FuzzUsageMeter_OnePass,
// FuzzChunkHasContent).

// eachMember calls fn with each member of the JSON object obj (its key
// unescaped, its value's source text) in order.
func eachMember(obj string, fn func(key, raw string)) {
	membersAt(obj, skipWS(obj, 0), fn)
}

// membersAt reads the JSON object starting at s[i] as eachMember does and
// returns the index after it, or -1 when no object starts there or it does
// not end. On input that is not valid JSON it stops early, never reading
// past s.
func membersAt(s string, i int, fn func(key, raw string)) int {
	if i >= len(s) || s[i] != '{' {
		return -1
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return -1
		}
		end := stringEnd(s, i)
		if end < 0 {
			return -1
		}
		key := s[i+1 : end-1]
		if strings.IndexByte(key, '\\') >= 0 {
			key = gjson.Parse(s[i:end]).Str
		}
		i = skipWS(s, end)
		if i >= len(s) || s[i] != ':' {
			return -1
		}
		i = skipWS(s, i+1)
		vend := valueEnd(s, i)
		if vend <= i {
			return -1
		}
		fn(key, s[i:vend])
		i = skipWS(s, vend)
		if i >= len(s) {
			return -1
		}
		switch s[i] {
		case '}':
			return i + 1
		case ',':
			i = skipWS(s, i+1)
		default:
			return -1
		}
	}
}

// eachElement calls fn with the index of each element of the JSON array arr
// and arr itself; fn returns the index after the element (or one that does
// not advance, to stop), so an element is scanned once, by its reader.
func eachElement(arr string, fn func(s string, i int) int) {
	i := skipWS(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return
	}
	i = skipWS(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return
	}
	for i < len(arr) {
		end := fn(arr, i)
		if end <= i {
			return
		}
		i = skipWS(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return
		}
		i = skipWS(arr, i+1)
	}
}

// skipWS is the index of the first byte from i on that is not JSON white space.
func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the index after the string starting with the quote at s[i],
// or -1 when it does not end.
func stringEnd(s string, i int) int {
	for j := i + 1; ; {
		q := strings.IndexByte(s[j:], '"')
		if q < 0 {
			return -1
		}
		j += q
		// escaped when an odd number of backslashes stand before it
		n := 0
		for k := j - 1; k > i && s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

// valueEnd is the index after the value starting at s[i] (a string, an
// object or array with everything in it, or a number or literal), or i when
// none starts there or it does not end.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		if end := stringEnd(s, i); end > 0 {
			return end
		}
		return i
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				end := stringEnd(s, j)
				if end < 0 {
					return i
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return i
	}
	for j := i; j < len(s); j++ {
		switch s[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(s)
}

// eachValue calls fn with the source of each element of the JSON array or
// each member value of the JSON object raw, as gjson's ForEach yields them
// (a scalar, which ForEach yields itself, holds nothing the callers read:
// nothing is called).
func eachValue(raw string, fn func(v string)) {
	i := skipWS(raw, 0)
	if i >= len(raw) {
		return
	}
	switch raw[i] {
	case '{':
		membersAt(raw, i, func(_, v string) { fn(v) })
	case '[':
		eachElement(raw, func(s string, at int) int {
			end := valueEnd(s, at)
			if end > at {
				fn(s[at:end])
			}
			return end
		})
	}
}

// lazyString is the JSON string raw as a gjson string result whose Str is
// set only when raw has no escape (then it is raw's text, as gjson sets
// it): an escaped string is unescaped when its text is asked for
// (stringText), which Check and the raw writers never do.
func lazyString(raw string) gjson.Result {
	r := gjson.Result{Type: gjson.String, Raw: raw}
	if len(raw) >= 2 && strings.IndexByte(raw, '\\') < 0 {
		r.Str = raw[1 : len(raw)-1]
	}
	return r
}

// stringText is r's text: r.String(), unescaping a lazyString first.
func stringText(r gjson.Result) string {
	if r.Type == gjson.String && r.Str == "" && len(r.Raw) > 2 {
		return gjson.Parse(r.Raw).Str
	}
	return r.String()
}

// emptyString reports whether r is the empty string, without unescaping a
// lazyString (an escape is never empty).
func emptyString(r gjson.Result) bool {
	return r.Type == gjson.String && r.Str == "" && len(r.Raw) <= 2
}
