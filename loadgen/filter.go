package loadgen

import (
	"fmt"
	"regexp"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"github.com/llm-failover/llm-failover/e2e/envoymodel"
	"google.golang.org/protobuf/types/known/structpb"
)

// Filter is one ext_proc filter as the harness plays it: the fields of
// envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor that decide
// which messages go to the server and what they carry.
type Filter struct {
	// Name names the filter in errors.
	Name string
	// InitialMetadata is grpc_service.initial_metadata, sent as gRPC
	// metadata on every stream (async_client_impl.cc).
	InitialMetadata map[string]string
	// Mode is processing_mode with header modes DEFAULT resolved to SEND
	// (processing_mode.proto).
	Mode Mode
	// RequestAttributes and ResponseAttributes are the evaluated
	// request_attributes and response_attributes: sent once per direction,
	// on the first message of it, under "envoy.filters.http.ext_proc"
	// (ext_proc.cc). Empty: no attributes field at all.
	RequestAttributes, ResponseAttributes map[string]*structpb.Value
	// RequestMetadataAttributes and ResponseMetadataAttributes are the
	// attributes read from the request's dynamic metadata
	// (metadata.filter_metadata['ns']['key']): evaluated when the message
	// that carries them is sent.
	RequestMetadataAttributes, ResponseMetadataAttributes []MetadataAttribute
	// ForwardNamespaces is metadata_options.forwarding_namespaces.untyped:
	// the dynamic metadata of these namespaces goes on every message as
	// metadata_context (ext_proc.cc addDynamicMetadata).
	ForwardNamespaces []string
	// ReceiveNamespaces is metadata_options.receiving_namespaces.untyped:
	// dynamic_metadata the server returns is kept only for these.
	ReceiveNamespaces []string
	// AllowModeOverride honours a headers answer's mode_override.
	AllowModeOverride bool
	// SendBodyWithoutWaiting is send_body_without_waiting_for_header_response:
	// in STREAMED mode the body chunks follow the headers message at once.
	SendBodyWithoutWaiting bool
}

// MetadataAttribute is a CEL attribute of the shape
// metadata.filter_metadata['<namespace>']['<key>'], the one shape over the
// dynamic metadata the e2e Envoy model evaluates.
type MetadataAttribute struct{ Name, Namespace, Key string }

var metadataAttr = regexp.MustCompile(`^metadata\.filter_metadata\['([^'\\]*)'\]\['([^'\\]*)'\]$`)

// value evaluates the attribute on the request's dynamic metadata as Envoy
// converts a google.protobuf.Value from CEL (the e2e Envoy model's
// metadataAttribute): a string or a bool as itself, a number as CEL prints
// a double, a struct or a list as "map value" or "list value", null as
// "NULL"; a missing namespace or key is a CEL error, and the attribute is
// left out.
func (a MetadataAttribute) value(md map[string]*structpb.Struct) *structpb.Value {
	v, ok := md[a.Namespace].GetFields()[a.Key]
	if !ok {
		return nil
	}
	return envoymodel.CELValue(v)
}

// Mode is an effective processing mode.
type Mode struct {
	RequestHeader, ResponseHeader extprocv3.ProcessingMode_HeaderSendMode
	RequestBody, ResponseBody     extprocv3.ProcessingMode_BodySendMode
}

// ModeOf resolves a configured ProcessingMode: header modes DEFAULT mean
// SEND; body modes default to NONE.
func ModeOf(pm *extprocv3.ProcessingMode) Mode {
	m := Mode{
		RequestHeader:  pm.GetRequestHeaderMode(),
		ResponseHeader: pm.GetResponseHeaderMode(),
		RequestBody:    pm.GetRequestBodyMode(),
		ResponseBody:   pm.GetResponseBodyMode(),
	}
	if m.RequestHeader == extprocv3.ProcessingMode_DEFAULT {
		m.RequestHeader = extprocv3.ProcessingMode_SEND
	}
	if m.ResponseHeader == extprocv3.ProcessingMode_DEFAULT {
		m.ResponseHeader = extprocv3.ProcessingMode_SEND
	}
	return m
}

// FilterFrom makes a Filter from an ext_proc filter's configuration; attrs
// gives the value of each attribute the filter asks for. An attribute attrs
// cannot evaluate is an error: the harness must send what Envoy sends.
func FilterFrom(name string, pb *extprocv3.ExternalProcessor, attrs func(string) (*structpb.Value, bool)) (*Filter, error) {
	f := &Filter{
		Name:                   name,
		InitialMetadata:        map[string]string{},
		Mode:                   ModeOf(pb.GetProcessingMode()),
		ForwardNamespaces:      pb.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(),
		ReceiveNamespaces:      pb.GetMetadataOptions().GetReceivingNamespaces().GetUntyped(),
		AllowModeOverride:      pb.GetAllowModeOverride(),
		SendBodyWithoutWaiting: pb.GetSendBodyWithoutWaitingForHeaderResponse(),
	}
	for _, hv := range pb.GetGrpcService().GetInitialMetadata() {
		v := hv.GetValue()
		if len(hv.GetRawValue()) > 0 {
			v = string(hv.GetRawValue())
		}
		f.InitialMetadata[hv.GetKey()] = v
	}
	eval := func(names []string) (map[string]*structpb.Value, []MetadataAttribute, error) {
		if len(names) == 0 {
			return nil, nil, nil
		}
		out := map[string]*structpb.Value{}
		var dyn []MetadataAttribute
		for _, n := range names {
			if m := metadataAttr.FindStringSubmatch(n); m != nil {
				dyn = append(dyn, MetadataAttribute{Name: n, Namespace: m[1], Key: m[2]})
				continue
			}
			v, known := attrs(n)
			if !known {
				return nil, nil, fmt.Errorf("filter %s: the harness cannot evaluate attribute %q", name, n)
			}
			if v != nil { // known but absent, as Envoy leaves out what does not evaluate
				out[n] = v
			}
		}
		return out, dyn, nil
	}
	var err error
	if f.RequestAttributes, f.RequestMetadataAttributes, err = eval(pb.GetRequestAttributes()); err != nil {
		return nil, err
	}
	if f.ResponseAttributes, f.ResponseMetadataAttributes, err = eval(pb.GetResponseAttributes()); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Filter) receives(ns string) bool {
	for _, n := range f.ReceiveNamespaces {
		if n == ns {
			return true
		}
	}
	return false
}
