package envoymodel

import (
	"errors"
	"strconv"
	"strings"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

type checkResult int

const (
	checkOK checkResult = iota
	checkIgnore
	checkFail
)

type checkOp int

const (
	opSet checkOp = iota
	opAppend
	opRemove
)

// check is source/extensions/filters/common/mutation_rules/mutation_rules.cc
// Checker::check: the header must be allowed (isAllowed) and, unless
// removed, its value valid (isValidValue); otherwise it is refused, silently
// (IGNORE) unless disallow_is_error (FAIL).
func (c *extProcConfig) check(op checkOp, name, value string) checkResult {
	if c.isAllowed(op, name) && (op == opRemove || isValidValue(name, value)) {
		return checkOK
	}
	if c.rules.GetDisallowIsError().GetValue() {
		return checkFail
	}
	return checkIgnore
}

// isAllowed is mutation_rules.cc Checker::isAllowed, in its order: "host"
// and ":" headers are never removed (HeaderUtility::isModifiableHeader);
// disallow_expression refuses; allow_expression allows (before every rule
// below, so it can allow x-envoy-* headers); disallow_all refuses; the
// routing headers host, :authority, :method, :scheme are refused unless
// allow_all_routing; ":" headers are refused for APPEND or with
// disallow_system; x-envoy* headers are refused unless allow_envoy.
func (c *extProcConfig) isAllowed(op checkOp, name string) bool {
	r := c.rules
	if op == opRemove && (strings.HasPrefix(name, ":") || name == "host") {
		return false
	}
	if re := r.GetDisallowExpression(); re != nil && matchRegex(re.GetRegex(), name) {
		return false
	}
	if re := r.GetAllowExpression(); re != nil && matchRegex(re.GetRegex(), name) {
		return true
	}
	if r.GetDisallowAll().GetValue() {
		return false
	}
	if !r.GetAllowAllRouting().GetValue() && (name == "host" || name == ":authority" || name == ":method" || name == ":scheme") {
		return false
	}
	if strings.HasPrefix(name, ":") && (op == opAppend || r.GetDisallowSystem().GetValue()) {
		return false
	}
	if !r.GetAllowEnvoy().GetValue() && strings.HasPrefix(name, "x-envoy") {
		return false
	}
	return true
}

// isValidValue is mutation_rules.cc Checker::isValidValue: a valid value for
// ordinary headers, a valid authority for host and :authority, http or https
// for :scheme, a number of at least 200 for :status.
func isValidValue(name, value string) bool {
	if !strings.HasPrefix(name, ":") && !validHeaderValue(value) {
		return false
	}
	switch name {
	case "host", ":authority":
		return validAuthority(value)
	case ":scheme":
		return strings.EqualFold(value, "http") || strings.EqualFold(value, "https")
	case ":status":
		n, err := strconv.ParseUint(value, 10, 32)
		return err == nil && n >= 200
	}
	return true
}

// validAuthority is HeaderUtility::authorityIsValid: the HTTP/2 authority
// characters and '@'.
func validAuthority(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if strings.IndexByte("!$%&'()*+,-.:;=@[]_~", c) < 0 {
			return false
		}
	}
	return true
}

// mutationOpts are the arguments of MutationUtils::applyHeaderMutations
// besides the mutation and the header map.
type mutationOpts struct {
	// replacing is CONTINUE_AND_REPLACE: :method may then change.
	replacing bool
	// removeContentLength is ProcessorState::shouldRemoveContentLength:
	// content-length set_headers are skipped.
	removeContentLength bool
}

// Header map limits: HCM common_http_protocol_options.max_headers_count
// (default 100) and max_request_headers_kb (default 60); the model applies
// the defaults to request and response maps alike.
const (
	maxHeadersCount = 100
	maxHeadersBytes = 60 << 10
)

// Errors of mutation_utils.cc applyHeaderMutations; their text is the
// response code details of the local reply (ext_proc.cc handleErrorResponse).
var (
	errMutationCount       = errors.New("header_mutation_operation_count_exceeds_limit")
	errMutationResult      = errors.New("header_mutation_result_exceeds_limit")
	errMutationRemoveChars = errors.New("header_mutation_remove_contains_invalid_character")
	errMutationSetChars    = errors.New("header_mutation_set_contains_invalid_character")
	errMutationRemove      = errors.New("header_mutation_remove_headers_failed")
	errMutationSet         = errors.New("header_mutation_set_headers_failed")
)

// applyHeaderMutation is mutation_utils.cc MutationUtils::applyHeaderMutations:
// more than max_headers_count removals or sets is an error; removals first,
// then sets; only raw_value is read (value is ignored) and only the
// deprecated append decides between add and overwrite (append_action is
// not read: the default overwrites); a set of content-length is skipped
// when opts.removeContentLength; invalid names or values are errors; a
// refused header is ignored or, with disallow_is_error, an error; the
// resulting map must stay within the header limits. Mutations applied
// before an error stay applied.
func (c *extProcConfig) applyHeaderMutation(mut *extprocsvc.HeaderMutation, h *headerMap, opts mutationOpts) error {
	if len(mut.GetRemoveHeaders()) > maxHeadersCount || len(mut.GetSetHeaders()) > maxHeadersCount {
		return errMutationCount
	}
	for _, name := range mut.GetRemoveHeaders() {
		if !validHeaderName(name) {
			return errMutationRemoveChars
		}
		ln := strings.ToLower(name)
		switch c.check(opRemove, ln, "") {
		case checkOK:
			h.del(ln)
		case checkFail:
			return errMutationRemove
		}
	}
	for _, sh := range mut.GetSetHeaders() {
		hv := sh.GetHeader()
		if hv == nil {
			continue
		}
		if opts.removeContentLength && strings.EqualFold(hv.GetKey(), "content-length") {
			continue
		}
		val := string(hv.GetRawValue())
		if !validHeaderName(hv.GetKey()) || !validHeaderValue(val) {
			return errMutationSetChars
		}
		name := strings.ToLower(hv.GetKey())
		//lint:ignore SA1019 Envoy 1.40 still honours the deprecated append field, so the model must too
		appendMode := sh.GetAppend().GetValue()
		op := opSet
		if appendMode && h.has(name) {
			op = opAppend
		}
		res := c.check(op, name, val)
		if opts.replacing && name == ":method" {
			res = checkOK // mutation_utils.cc: :method may change with CONTINUE_AND_REPLACE
		}
		switch res {
		case checkOK:
			if appendMode {
				h.add(name, val)
			} else {
				h.set(name, val)
			}
		case checkIgnore:
			// Refused silently (rejected_header_mutations counter).
		case checkFail:
			return errMutationSet
		}
	}
	// mutation_utils.cc headerMutationResultCheck.
	size := 0
	for _, e := range h.kv {
		size += len(e.k) + len(e.v)
	}
	if len(h.kv) > maxHeadersCount || size > maxHeadersBytes {
		return errMutationResult
	}
	return nil
}

// validHeaderName is Http::HeaderUtility::headerNameIsValid: an RFC 7230
// token, optionally after a leading ':'.
func validHeaderName(s string) bool {
	s = strings.TrimPrefix(s, ":")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

// validHeaderValue is Http::HeaderUtility::headerValueIsValid, which is
// quiche's HeaderValidator::IsValidHeaderValue with obs-text allowed
// (http2/adapter/header_validator.cc kHttp2HeaderValueAllowedChars): tab,
// space, visible ASCII and bytes 0x80..0xff; every other control character
// and DEL is invalid.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && (c < ' ' || c == 0x7f) {
			return false
		}
	}
	return true
}
