package xds

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
)

var update = flag.Bool("update", false, "rewrite golden files")

// configs are the generator's own test configs: every branch it has.
var configs = []string{
	"../examples/config.yaml",
	"../examples/compose-config.yaml",
	"../examples/mesh-config.yaml",
	"../envoy/testdata/minimal.config.yaml",
	"../envoy/testdata/mixed.config.yaml",
	"../envoy/testdata/clients.config.yaml",
	"../envoy/testdata/mtls.config.yaml",
}

func load(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load(%s): %v", path, err)
	}
	return c
}

// TestGenerateBootstrap_PassesCheck verifies that the xDS-mode bootstrap of
// every generator config is valid Envoy config (envoy.Check).
func TestGenerateBootstrap_PassesCheck(t *testing.T) {
	for _, path := range configs {
		for _, addr := range []string{"", "llm-failover.internal:50052", "unix:/run/llm-failover/xds.sock"} {
			t.Run(path+" "+addr, func(t *testing.T) {
				y, err := GenerateBootstrap(load(t, path), BootstrapOptions{Address: addr})
				if err != nil {
					t.Fatal(err)
				}
				if err := envoy.Check(y); err != nil {
					t.Errorf("Check(xDS bootstrap) = %v, want nil", err)
				}
			})
		}
	}
}

// TestBootstrap_ReachesADSLikeExtProc verifies the ADS cluster: at the
// given address, with the ext_proc cluster's transport socket (mutual TLS
// from the same SDS files) and HTTP/2, and the node Envoy needs for ADS.
func TestBootstrap_ReachesADSLikeExtProc(t *testing.T) {
	c := load(t, "../envoy/testdata/mtls.config.yaml")
	b, err := Bootstrap(c, BootstrapOptions{Address: "llm-failover.internal:50052", NodeID: "gw-1"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := envoy.BuildFragments(c)
	if err != nil {
		t.Fatal(err)
	}
	cls := b.GetStaticResources().GetClusters()
	if len(cls) != 1 || cls[0].GetName() != Cluster {
		t.Fatalf("static clusters = %v, want only %q", cls, Cluster)
	}
	xc := cls[0]
	if !sameYAML(t, xc.GetTransportSocket(), f.ExtProcCluster.GetTransportSocket()) {
		t.Errorf("ADS cluster's transport socket differs from the ext_proc cluster's")
	}
	if !sameYAML(t, xc.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"],
		f.ExtProcCluster.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]) {
		t.Errorf("ADS cluster's protocol options differ from the ext_proc cluster's (HTTP/2)")
	}
	sa := xc.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "llm-failover.internal" || sa.GetPortValue() != 50052 {
		t.Errorf("ADS cluster endpoint = %s:%d, want llm-failover.internal:50052", sa.GetAddress(), sa.GetPortValue())
	}
	if n := b.GetNode(); n.GetId() != "gw-1" || n.GetCluster() != NodeCluster {
		t.Errorf("node = %v, want id gw-1 cluster %s", n, NodeCluster)
	}
	dr := b.GetDynamicResources()
	if dr.GetLdsConfig().GetAds() == nil || dr.GetCdsConfig().GetAds() == nil ||
		dr.GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != Cluster {
		t.Errorf("dynamic_resources = %v, want LDS and CDS over ADS through %s", dr, Cluster)
	}
	if len(b.GetStaticResources().GetListeners()) != 0 {
		t.Errorf("static listeners in the xDS bootstrap; want them from LDS")
	}
}

// TestBootstrap_BadAddress verifies that an address Envoy could not use is
// refused with a message naming it.
func TestBootstrap_BadAddress(t *testing.T) {
	c := load(t, "../envoy/testdata/minimal.config.yaml")
	for _, addr := range []string{"localhost", "unix:", "host:0", "host:65536", "host:port", ":::"} {
		_, err := Bootstrap(c, BootstrapOptions{Address: addr})
		if err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("Bootstrap(address %q) = %v, want an error naming it", addr, err)
		}
	}
}

// TestGenerateBootstrap_Golden verifies envoy-config --xds-bootstrap's
// output byte for byte.
func TestGenerateBootstrap_Golden(t *testing.T) {
	got, err := GenerateBootstrap(load(t, "../envoy/testdata/mtls.config.yaml"),
		BootstrapOptions{Address: "llm-failover.internal:50052", SourceName: "envoy/testdata/mtls.config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	const path = "testdata/mtls.xds-bootstrap.yaml"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./xds -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generator's output; run go test ./xds -run Golden -update", path)
	}
}

// TestSnapshot_ResourcesPassCheck verifies that what Envoy is served is
// valid Envoy config: the xDS bootstrap with every served listener and
// cluster added statically passes envoy.Check, for every generator config.
func TestSnapshot_ResourcesPassCheck(t *testing.T) {
	for _, path := range configs {
		t.Run(path, func(t *testing.T) {
			c := load(t, path)
			b, err := Bootstrap(c, BootstrapOptions{})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := Snapshot(c)
			if err != nil {
				t.Fatal(err)
			}
			sr := b.GetStaticResources()
			for _, r := range snap.GetResources(resourcev3.ListenerType) {
				sr.Listeners = append(sr.Listeners, r.(*listenerv3.Listener))
			}
			for _, r := range snap.GetResources(resourcev3.ClusterType) {
				sr.Clusters = append(sr.Clusters, r.(*clusterv3.Cluster))
			}
			y, err := envoy.MarshalYAML(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := envoy.Check(y); err != nil {
				t.Errorf("Check(served resources) = %v, want nil", err)
			}
		})
	}
}

// BenchmarkSnapshot measures what a reload in xDS mode adds: building and
// digesting the example config's resources.
func BenchmarkSnapshot(b *testing.B) {
	c, err := config.Load("../examples/config.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Snapshot(c); err != nil {
			b.Fatal(err)
		}
	}
}
