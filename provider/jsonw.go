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
	if r.Type == gjson.String && len(r.Raw) >= 2 && r.Raw[0] == '"' && r.Raw[len(r.Raw)-1] == '"' {
		return append(b, r.Raw...)
	}
	return appendString(b, r.String())
}

// appendRawJSON appends r's source text when r is a JSON value, else def.
func appendRawJSON(b []byte, r gjson.Result, def string) []byte {
	if !r.Exists() || r.Raw == "" {
		return append(b, def...)
	}
	return append(b, r.Raw...)
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
