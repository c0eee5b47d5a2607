package loadgen

import (
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wrapped here
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The generator must not be what limits a run, so messages are sent as
// pre-encoded pieces: a body goes out without being copied into a marshal
// buffer, and the forwarded metadata, the same for every message of a
// stream, is encoded once per stream. Protobuf parses concatenated
// encodings of distinct fields as one message, so the server receives what
// it would from Envoy (Envoy's C++ encoder writes the fields in number
// order; so do these pieces: the request oneof, metadata_context (8), then
// attributes (9) and protocol_config (11)).

// frames is one ProcessingRequest as encoded pieces.
type frames [][]byte

// codec sends frames as they are and everything else as the proto codec.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(frames); ok {
		out := make(mem.BufferSlice, 0, len(f))
		for _, b := range f {
			if len(b) > 0 {
				out = append(out, mem.SliceBuffer(b))
			}
		}
		return out, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (codec) Name() string { return "proto" }

var (
	requestBodyField  = fieldNumber("request_body")
	responseBodyField = fieldNumber("response_body")
)

func fieldNumber(name string) protowire.Number {
	return (&extprocsvc.ProcessingRequest{}).ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name)).Number()
}

// bodyFrames encodes ProcessingRequest{<field>: HttpBody{body, end_of_stream}}
// as a prefix, the body itself (not copied) and a suffix.
func bodyFrames(field protowire.Number, body []byte, eos bool) frames {
	inner := 0
	if len(body) > 0 {
		inner = protowire.SizeTag(1) + protowire.SizeBytes(len(body))
	}
	if eos {
		inner += protowire.SizeTag(2) + protowire.SizeVarint(1)
	}
	prefix := protowire.AppendTag(nil, field, protowire.BytesType)
	prefix = protowire.AppendVarint(prefix, uint64(inner))
	if len(body) > 0 {
		prefix = protowire.AppendTag(prefix, 1, protowire.BytesType)
		prefix = protowire.AppendVarint(prefix, uint64(len(body)))
	}
	var suffix []byte
	if eos {
		suffix = protowire.AppendTag(nil, 2, protowire.VarintType)
		suffix = protowire.AppendVarint(suffix, 1)
	}
	return frames{prefix, body, suffix}
}

// encode marshals a message (without its metadata_context).
func encode(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err) // only messages the harness built: a bug
	}
	return b
}
