package contract

import (
	"encoding/base64"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The plan travels as one compact string (docs/envoy-contract.md, "Route
// phase"): the route phase writes it to key PlanKey of the plan namespace,
// and the attempt-phase filter asks Envoy for it once, as the request
// attribute PlanAttribute, on its first message. A nested Struct forwarded
// with metadata_options.forwarding_namespaces instead costs the attempt
// phase a full Struct unmarshal on every message, each SSE chunk included.
//
// The string is the base64url (no padding) of the protobuf binary encoding
// of the admin API's llmfailover.admin.v1.PlanMetadata
// (proto/llmfailover/admin/v1/admin.proto; a test in package admin parses
// AppendPlanWire's output with it): a documented, versioned schema that any
// protobuf library reads. Its field numbers are below.
const (
	wireVersion      = 1
	wireID           = 2
	wireGen          = 3
	wirePerTryMS     = 4
	wireChain        = 5
	wireModel        = 6
	wireStream       = 7
	wireIncludeUsage = 8
	wireExtra        = 9
	wireTargets      = 10
	wireExp          = 11
	wireSig          = 12
	wireClient       = 13
	wireTraceparent  = 14
	wireAPI          = 15
	wireProbe        = 16

	wireTargetProvider      = 1
	wireTargetCluster       = 2
	wireTargetModel         = 3
	wireTargetContextWindow = 4
	wireTargetPlacement     = 5
)

// PlanKey is the key of the compact plan string in the plan namespace.
const PlanKey = "p"

// PlanAttribute is the attempt-phase filter's request attribute that reads
// the compact plan from the plan namespace of metadata namespace ns: a CEL
// expression over the stream's dynamic metadata, which the upstream filter
// shares with the router's (router/upstream_request.cc
// UpstreamFilterManager::streamInfo). Envoy evaluates it once, on the
// request headers message, and sends a string value as itself
// (ext_proc/matching_utils.cc ExpressionManager::evaluateAttributes,
// expr/evaluator.cc print). ns holds only letters, digits, '_', '.' and '-'
// (config.Validate), so it needs no quoting.
func PlanAttribute(ns string) string {
	return "metadata.filter_metadata['" + PlanNamespace(ns) + "']['" + PlanKey + "']"
}

// MaxPlanWire bounds the compact plan string DecodePlanString reads: a plan
// of MaxTargets targets with names at their configured limits is far below
// it.
const MaxPlanWire = 64 << 10

// EncodePlanString is p's compact plan string.
func EncodePlanString(p *Plan) string {
	b := AppendPlanWire(make([]byte, 0, 128+64*len(p.Targets)), p)
	out := make([]byte, base64.RawURLEncoding.EncodedLen(len(b)))
	base64.RawURLEncoding.Encode(out, b)
	return string(out)
}

// AppendPlanWire appends p's PlanMetadata encoding to b: every field set,
// zero values left out as proto3 does.
func AppendPlanWire(b []byte, p *Plan) []byte {
	b = appendVarintField(b, wireVersion, 1)
	b = appendStringField(b, wireID, p.ID)
	b = appendVarintField(b, wireGen, p.Gen)
	b = appendVarintField(b, wirePerTryMS, uint64(p.PerTry.Milliseconds()))
	b = appendStringField(b, wireChain, p.Chain)
	b = appendStringField(b, wireModel, p.Model)
	b = appendVarintField(b, wireStream, protowire.EncodeBool(p.Stream))
	b = appendVarintField(b, wireIncludeUsage, protowire.EncodeBool(p.IncludeUsage))
	b = appendVarintField(b, wireExtra, uint64(int64(int32(p.Extra))))
	for _, t := range p.Targets {
		// The target's fields are written in place; its length goes in
		// front of them once they are (no buffer per target).
		b = protowire.AppendTag(b, wireTargets, protowire.BytesType)
		start := len(b)
		b = appendStringField(b, wireTargetProvider, t.Provider)
		b = appendStringField(b, wireTargetCluster, t.Cluster)
		b = appendStringField(b, wireTargetModel, t.Model)
		b = appendVarintField(b, wireTargetContextWindow, uint64(int64(int32(t.ContextWindow))))
		b = appendStringField(b, wireTargetPlacement, t.Placement)
		b = insertLength(b, start)
	}
	b = appendVarintField(b, wireExp, uint64(p.Exp))
	b = appendStringField(b, wireSig, p.Sig)
	b = appendStringField(b, wireClient, p.Client)
	b = appendStringField(b, wireTraceparent, p.Traceparent)
	b = appendStringField(b, wireAPI, p.API)
	b = appendVarintField(b, wireProbe, protowire.EncodeBool(p.Probe))
	return b
}

// insertLength puts the length of b[start:] before it, as a varint.
func insertLength(b []byte, start int) []byte {
	n := len(b) - start
	k := protowire.SizeVarint(uint64(n))
	for range k {
		b = append(b, 0)
	}
	copy(b[start+k:], b[start:start+n])
	protowire.AppendVarint(b[:start], uint64(n))
	return b
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

// DecodePlanString reads a compact plan string. Like DecodePlan it does not
// verify the signature; it refuses (ErrNoPlan) a string longer than
// MaxPlanWire, one that is not base64url or not a PlanMetadata encoding,
// text that is not UTF-8, a plan of another version, and one with no
// targets or more than MaxTargets. Unknown fields are skipped.
func DecodePlanString(s string) (Plan, error) {
	if len(s) > MaxPlanWire {
		return Plan{}, fmt.Errorf("%w: the plan string has %d bytes, more than %d", ErrNoPlan, len(s), MaxPlanWire)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: the plan string is not base64url: %v", ErrNoPlan, err)
	}
	// One string holds every text field: each is a substring of it.
	d := planDecoder{buf: raw, str: string(raw)}
	p, err := d.plan()
	if err != nil {
		return Plan{}, fmt.Errorf("%w: %v", ErrNoPlan, err)
	}
	return p, nil
}

// planDecoder reads a PlanMetadata encoding; str is buf as a string, so a
// text field costs no copy of its own.
type planDecoder struct {
	buf []byte
	str string
	off int
}

func (d *planDecoder) plan() (Plan, error) {
	var p Plan
	version := uint64(0)
	end := len(d.buf)
	for d.off < end {
		num, typ, err := d.tag()
		if err != nil {
			return Plan{}, err
		}
		switch {
		case num == wireTargets && typ == protowire.BytesType:
			start, stop, err := d.span()
			if err != nil {
				return Plan{}, err
			}
			if len(p.Targets) == MaxTargets {
				return Plan{}, fmt.Errorf("more than %d targets", MaxTargets)
			}
			t, err := d.target(start, stop)
			if err != nil {
				return Plan{}, err
			}
			p.Targets = append(p.Targets, t)
		case typ == protowire.BytesType && isPlanText(num):
			s, err := d.text()
			if err != nil {
				return Plan{}, err
			}
			switch num {
			case wireID:
				p.ID = s
			case wireChain:
				p.Chain = s
			case wireModel:
				p.Model = s
			case wireSig:
				p.Sig = s
			case wireClient:
				p.Client = s
			case wireTraceparent:
				p.Traceparent = s
			case wireAPI:
				p.API = s
			}
		case typ == protowire.VarintType && isPlanNumber(num):
			v, err := d.varint()
			if err != nil {
				return Plan{}, err
			}
			switch num {
			case wireVersion:
				version = v
			case wireGen:
				p.Gen = v
			case wirePerTryMS:
				if ms := int64(v); ms >= 1 && ms < 1e9 {
					p.PerTry = time.Duration(ms) * time.Millisecond
				}
			case wireStream:
				p.Stream = v != 0
			case wireIncludeUsage:
				p.IncludeUsage = v != 0
			case wireExtra:
				p.Extra = int(int32(v))
			case wireExp:
				if exp := int64(v); exp > 0 {
					p.Exp = exp
				}
			case wireProbe:
				p.Probe = v != 0
			}
		case isPlanText(num) || isPlanNumber(num) || num == wireTargets:
			return Plan{}, fmt.Errorf("field %d has wire type %d", num, typ)
		default:
			if err := d.skip(num, typ); err != nil {
				return Plan{}, err
			}
		}
	}
	if version != wireVersion {
		return Plan{}, fmt.Errorf("plan version %d, want %d", version, wireVersion)
	}
	if len(p.Targets) == 0 {
		return Plan{}, fmt.Errorf("the plan has no targets")
	}
	return p, nil
}

func isPlanText(num protowire.Number) bool {
	switch num {
	case wireID, wireChain, wireModel, wireSig, wireClient, wireTraceparent, wireAPI:
		return true
	}
	return false
}

func isPlanNumber(num protowire.Number) bool {
	switch num {
	case wireVersion, wireGen, wirePerTryMS, wireStream, wireIncludeUsage, wireExtra, wireExp, wireProbe:
		return true
	}
	return false
}

// target reads the PlanTarget in buf[start:stop].
func (d *planDecoder) target(start, stop int) (Target, error) {
	var t Target
	outer := d.buf
	d.buf, d.off = outer[:stop], start
	defer func() { d.buf, d.off = outer, stop }()
	for d.off < stop {
		num, typ, err := d.tag()
		if err != nil {
			return Target{}, err
		}
		switch {
		case typ == protowire.BytesType && num == wireTargetPlacement:
			// Unsigned and informational: kept only when ValidPlacement.
			s, err := d.text()
			if err != nil {
				return Target{}, err
			}
			t.Placement = placement(s)
		case typ == protowire.BytesType && num >= wireTargetProvider && num <= wireTargetModel:
			s, err := d.text()
			if err != nil {
				return Target{}, err
			}
			switch num {
			case wireTargetProvider:
				t.Provider = s
			case wireTargetCluster:
				t.Cluster = s
			case wireTargetModel:
				t.Model = s
			}
		case typ == protowire.VarintType && num == wireTargetContextWindow:
			v, err := d.varint()
			if err != nil {
				return Target{}, err
			}
			t.ContextWindow = int(int32(v))
		case num >= wireTargetProvider && num <= wireTargetPlacement:
			return Target{}, fmt.Errorf("target field %d has wire type %d", num, typ)
		default:
			if err := d.skip(num, typ); err != nil {
				return Target{}, err
			}
		}
	}
	return t, nil
}

func (d *planDecoder) tag() (protowire.Number, protowire.Type, error) {
	num, typ, n := protowire.ConsumeTag(d.buf[d.off:])
	if n < 0 {
		return 0, 0, protowire.ParseError(n)
	}
	d.off += n
	return num, typ, nil
}

func (d *planDecoder) varint() (uint64, error) {
	v, n := protowire.ConsumeVarint(d.buf[d.off:])
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	d.off += n
	return v, nil
}

// span reads a length prefix and returns the bounds of the bytes it covers.
func (d *planDecoder) span() (int, int, error) {
	v, n := protowire.ConsumeBytes(d.buf[d.off:])
	if n < 0 {
		return 0, 0, protowire.ParseError(n)
	}
	start := d.off + n - len(v)
	d.off += n
	return start, d.off, nil
}

// text reads a length-prefixed UTF-8 string (proto3 strings are UTF-8).
func (d *planDecoder) text() (string, error) {
	start, stop, err := d.span()
	if err != nil {
		return "", err
	}
	s := d.str[start:stop]
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("a text field is not UTF-8")
	}
	return s, nil
}

func (d *planDecoder) skip(num protowire.Number, typ protowire.Type) error {
	n := protowire.ConsumeFieldValue(num, typ, d.buf[d.off:])
	if n < 0 {
		return protowire.ParseError(n)
	}
	d.off += n
	return nil
}
