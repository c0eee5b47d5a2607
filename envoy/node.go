package envoy

import (
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Node identity of the generated bootstrap. Envoy refuses every secret
// taken from SDS, file-based ones included, unless the node has an id and a
// cluster (source/common/secret/sds_api.cc, each *SdsApi::create calling
// Config::Utility::checkLocalInfo; the same in v1.38.0, v1.39.0 and
// 1.40.0-dev). Envoy's --service-node and --service-cluster flags override
// them.
const (
	NodeID      = "llm-failover-envoy"
	NodeCluster = "llm-failover"
)

// node is the bootstrap's node.
func node() *corev3.Node { return &corev3.Node{Id: NodeID, Cluster: NodeCluster} }

// nodeProblems refuses a bootstrap that takes a secret from SDS without a
// node id and cluster: Envoy would refuse it at start.
func nodeProblems(b *bootstrapv3.Bootstrap) []error {
	if b.GetNode().GetId() != "" && b.GetNode().GetCluster() != "" {
		return nil
	}
	path := firstSDS(b.ProtoReflect(), "")
	if path == "" {
		return nil
	}
	return []error{&Problem{Path: "node", Reason: fmt.Sprintf("node id and cluster are required: %s takes a secret from SDS, which Envoy refuses without them "+
		"(sds_api.cc checkLocalInfo); set node {id, cluster} or run Envoy with --service-node and --service-cluster", path)}}
}

// firstSDS returns the path of the first SdsSecretConfig with an sds_config
// below m (inside Any typed configs too), or "".
func firstSDS(m protoreflect.Message, path string) string {
	switch v := m.Interface().(type) {
	case *tlsv3.SdsSecretConfig:
		if v.GetSdsConfig() != nil {
			return path
		}
		return ""
	case *anypb.Any:
		inner, err := v.UnmarshalNew()
		if err != nil {
			return ""
		}
		return firstSDS(inner.ProtoReflect(), path)
	}
	found := ""
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		fp := join(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.MessageKind {
				return true
			}
			val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				found = firstSDS(mv.Message(), fmt.Sprintf("%s[%q]", fp, k.String()))
				return found == ""
			})
		case fd.IsList():
			l := val.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				found = firstSDS(l.Get(i).Message(), fmt.Sprintf("%s[%d]", fp, i))
			}
		default:
			found = firstSDS(val.Message(), fp)
		}
		return found == ""
	})
	return found
}
