package envoymodel

import (
	"errors"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

type checkResult int

const (
	checkOK checkResult = iota
	checkIgnore
	checkFail
)

// check is source/extensions/filters/common/mutation_rules/mutation_rules.cc
// Checker::check: disallow_expression, allow_expression, disallow_all,
// routing headers (host, :authority, :method, :scheme) unless
// allow_all_routing, system headers with disallow_system, x-envoy* unless
// allow_envoy. A refused header is ignored silently unless disallow_is_error.
func (c *extProcConfig) check(name, value string) checkResult {
	r := c.rules
	// A :status mutation must be a valid status code
	// (mutation_rules.cc isValidValue; guess at the range).
	if name == ":status" {
		n, err := strconv.Atoi(value)
		if err != nil || n < 200 || n > 999 {
			return checkFail
		}
	}
	allowed := func() bool {
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
		if r.GetDisallowSystem().GetValue() && strings.HasPrefix(name, ":") {
			return false
		}
		if !r.GetAllowEnvoy().GetValue() && strings.HasPrefix(name, "x-envoy") {
			return false
		}
		return true
	}()
	if allowed {
		return checkOK
	}
	if r.GetDisallowIsError().GetValue() {
		return checkFail
	}
	return checkIgnore
}

// applyHeaderMutation is mutation_utils.cc applyHeaderMutations: removals
// first, then sets; only raw_value is read
// (envoy.reloadable_features.send_header_raw_value); value and raw_value both
// set is an error; invalid names or values are errors; without append_action
// the deprecated append (default false) decides, so the default overwrites.
func (c *extProcConfig) applyHeaderMutation(mut *extprocsvc.HeaderMutation, h *headerMap, replacing bool) error {
	for _, name := range mut.GetRemoveHeaders() {
		if !validHeaderName(name) {
			return errors.New("Invalid character in remove_headers mutation.")
		}
		ln := strings.ToLower(name)
		// Http::HeaderUtility::isRemovableHeader: pseudo headers and host are
		// never removed (guess: counted as rejected, silently).
		if strings.HasPrefix(ln, ":") || ln == "host" {
			continue
		}
		switch c.check(ln, "") {
		case checkOK:
			h.del(ln)
		case checkFail:
			return errors.New("Invalid attempt to remove " + ln)
		}
	}
	for _, sh := range mut.GetSetHeaders() {
		hv := sh.GetHeader()
		if hv == nil {
			continue
		}
		if hv.GetValue() != "" && len(hv.GetRawValue()) > 0 {
			return errors.New("Only one of value or raw_value in the HeaderValue message should be set.")
		}
		val := string(hv.GetRawValue())
		if !validHeaderName(hv.GetKey()) || !validHeaderValue(val) {
			return errors.New("Invalid character in set_headers mutation.")
		}
		name := strings.ToLower(hv.GetKey())
		exists := h.has(name)
		appendMode := false
		switch sh.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD: // 0: the deprecated append field decides
			appendMode = sh.GetAppend().GetValue()
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if exists {
				continue
			}
			appendMode = true
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if !exists {
				continue
			}
		default:
			return errors.New("Invalid append_action value " + name)
		}
		res := c.check(name, val)
		if replacing && name == ":method" {
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
			return errors.New("Invalid attempt to modify " + name)
		}
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

// validHeaderValue is Http::HeaderUtility::headerValueIsValid: no NUL, CR or LF.
func validHeaderValue(s string) bool {
	return !strings.ContainsAny(s, "\x00\r\n")
}
