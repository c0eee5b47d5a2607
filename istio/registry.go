package istio

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v2"

	"github.com/llm-failover/llm-failover/config"
)

// Labels of the objects istio-config writes, and the selector of the
// ext_proc server's pods: the Helm chart's (deploy/helm/llm-failover) for
// its release llm-failover.
var (
	partOf       = yaml.MapItem{Key: "app.kubernetes.io/part-of", Value: "llm-failover"}
	podSelector  = yaml.MapSlice{{Key: "app.kubernetes.io/name", Value: "llm-failover"}, {Key: "app.kubernetes.io/instance", Value: "llm-failover"}}
	nonNameChars = regexp.MustCompile(`[^a-z0-9-]+`)
)

func meta(name, namespace string) yaml.MapSlice {
	return yaml.MapSlice{
		{Key: "name", Value: name},
		{Key: "namespace", Value: namespace},
		{Key: "labels", Value: yaml.MapSlice{partOf}},
	}
}

func object(apiVersion, kind, name, namespace string, spec yaml.MapSlice) Object {
	return Object{Kind: kind, Name: name, Namespace: namespace, Doc: yaml.MapSlice{
		{Key: "apiVersion", Value: apiVersion},
		{Key: "kind", Value: kind},
		{Key: "metadata", Value: meta(name, namespace)},
		{Key: "spec", Value: spec},
	}}
}

// serviceObject is the ext_proc server's Service, as the Helm chart writes
// it: the gRPC port named grpc (Istio speaks HTTP/2 to it) and the admin
// port.
func serviceObject(s service) Object {
	return object("v1", "Service", s.name, s.namespace, yaml.MapSlice{
		{Key: "type", Value: "ClusterIP"},
		{Key: "selector", Value: podSelector},
		{Key: "ports", Value: []yaml.MapSlice{
			{{Key: "name", Value: "grpc"}, {Key: "port", Value: s.port}, {Key: "targetPort", Value: "grpc"}, {Key: "protocol", Value: "TCP"}, {Key: "appProtocol", Value: "grpc"}},
			{{Key: "name", Value: "http-admin"}, {Key: "port", Value: s.adminPort}, {Key: "targetPort", Value: "http-admin"}, {Key: "protocol", Value: "TCP"}, {Key: "appProtocol", Value: "http"}},
		}},
	})
}

// registryObjects are a ServiceEntry and a DestinationRule per provider
// host and port, in the namespace of the Service: the hosts enter the
// mesh's registry as MESH_EXTERNAL, resolved by DNS; port 80 speaks HTTP
// and its DestinationRule originates TLS to the provider's port with the
// host as SNI (Istio's egress TLS origination), the provider's port itself
// is HTTPS, passed through (providers with tls: false: their port, plain
// HTTP, and no DestinationRule). The failover route does not use them (its
// attempts go through the provider clusters of the EnvoyFilter, which
// carry the endpoint metadata the attempt phase reads): they let the mesh
// know the egress, for outboundTrafficPolicy REGISTRY_ONLY, telemetry and
// the workloads that call a provider directly.
func registryObjects(c *config.Config, s service) []Object {
	type hostPort struct {
		host string
		port int
	}
	seen := map[hostPort]bool{}
	var out []Object
	for _, p := range c.Providers {
		hp := hostPort{p.Host, p.Port}
		if seen[hp] || strings.HasPrefix(p.Host, "[") || isIP(p.Host) {
			continue // an IP address needs no registry entry to be reached
		}
		seen[hp] = true
		name := objectName(p.Host, p.Port)
		tls := p.TLS == nil || *p.TLS
		// Port 80 speaks HTTP in the mesh; with TLS it is originated
		// towards the provider's port. The provider's own TLS port is
		// HTTPS (passed through) for workloads that speak TLS themselves.
		plain := yaml.MapSlice{{Key: "number", Value: 80}, {Key: "name", Value: "http"}, {Key: "protocol", Value: "HTTP"}}
		ports := []yaml.MapSlice{plain}
		switch {
		case !tls:
			ports = []yaml.MapSlice{{{Key: "number", Value: p.Port}, {Key: "name", Value: "http"}, {Key: "protocol", Value: "HTTP"}}}
		case p.Port != 80:
			ports[0] = append(plain, yaml.MapItem{Key: "targetPort", Value: p.Port})
			ports = append(ports, yaml.MapSlice{{Key: "number", Value: p.Port}, {Key: "name", Value: "https"}, {Key: "protocol", Value: "HTTPS"}})
		}
		out = append(out, object("networking.istio.io/v1", "ServiceEntry", name, s.namespace, yaml.MapSlice{
			{Key: "hosts", Value: []string{p.Host}},
			{Key: "location", Value: "MESH_EXTERNAL"},
			{Key: "resolution", Value: "DNS"},
			{Key: "ports", Value: ports},
		}))
		if !tls {
			continue
		}
		out = append(out, object("networking.istio.io/v1", "DestinationRule", name, s.namespace, yaml.MapSlice{
			{Key: "host", Value: p.Host},
			{Key: "trafficPolicy", Value: yaml.MapSlice{
				{Key: "portLevelSettings", Value: []yaml.MapSlice{{
					{Key: "port", Value: yaml.MapSlice{{Key: "number", Value: 80}}},
					{Key: "tls", Value: yaml.MapSlice{{Key: "mode", Value: "SIMPLE"}, {Key: "sni", Value: p.Host}}},
				}}},
			}},
		}))
	}
	return out
}

// objectName is a Kubernetes name for a provider host and port.
func objectName(host string, port int) string {
	n := strings.Trim(nonNameChars.ReplaceAllString(strings.ToLower(host), "-"), "-")
	n = fmt.Sprintf("llm-failover-%s-%d", n, port)
	if len(n) > 63 { // keep it unique: a hash of the whole name
		h := fnv.New32a()
		h.Write([]byte(n))
		n = fmt.Sprintf("%s-%08x", strings.TrimRight(n[:54], "-"), h.Sum32())
	}
	return n
}

func isIP(h string) bool {
	for _, r := range h {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}
