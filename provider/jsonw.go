package provider

import (
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// This file holds the append-style JSON writing every translator shares:
// output is built in one buffer, in a fixed key order, so golden files match
// byte for byte and no reflection runs on the hot path.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendRawString appends a JSON string value read by gjson: its source text
// when it is a string (already escaped, so copied as is), else its text as a
// new JSON string.
func appendRawString(b []byte, r gjson.Result) []byte {
	if r.Type == gjson.String && jsonStringOK(r.Raw) {
		return append(b, r.Raw...)
	}
	return appendString(b, stringText(r))
}

// rawString is r as a JSON string literal: its source when that is one.
func rawString(r gjson.Result) string {
	if r.Type == gjson.String && jsonStringOK(r.Raw) {
		return r.Raw
	}
	return string(appendString(nil, stringText(r)))
}

// jsonStringOK reports whether raw is exactly one valid JSON string literal
// of valid UTF-8, safe to copy into output as is. gjson tolerates broken
// input, so its Raw text is checked before it is copied.
func jsonStringOK(raw string) bool {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return false
	}
	ascii := true
	for i := 1; i < n-1; i++ {
		c := raw[i]
		switch {
		case c >= utf8.RuneSelf:
			ascii = false
		case c < 0x20 || c == '"':
			return false
		case c == '\\':
			i++
			if i >= n-1 {
				return false
			}
			switch raw[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= n-1 || !isHex(raw[i+1]) || !isHex(raw[i+2]) || !isHex(raw[i+3]) || !isHex(raw[i+4]) {
					return false
				}
				i += 4
			default:
				return false
			}
		}
	}
	return ascii || utf8.ValidString(raw)
}

func isHex(c byte) bool { return c-'0' < 10 || (c|0x20)-'a' < 6 }

// isObject reports whether s starts like a JSON object.
func isObject(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// appendFloat appends f as a JSON number.
func appendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendInt appends n as a JSON number.
func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendKey appends `,"key":` (without the comma when b ends an opening brace).
func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendStrings writes ss as a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}
