package envoy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherspecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/matcher/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// olderVersions are the versions whose topology differs from 1.40's.
var olderVersions = []string{config.EnvoyV138, config.EnvoyV139}

// versionGolden are the configs generated for every older version, golden
// under testdata/<name>.envoy-<version>.yaml.
var versionGolden = []generated{
	{"example", "../examples/config.yaml", "examples/config.yaml", "testdata/example"},
	{"mixed", "testdata/mixed.config.yaml", "testdata/mixed.config.yaml", "testdata/mixed"},
}

func generateVersion(t *testing.T, g generated, version string) []byte {
	t.Helper()
	c := loadConfig(t, g.config)
	c.Envoy.Version = version
	got, err := Generate(c, Options{SourceName: g.source})
	if err != nil {
		t.Fatalf("Generate(%s, %s): %v", g.config, version, err)
	}
	return got
}

// TestGenerate_VersionGoldenFiles verifies each older version's bootstrap
// byte for byte, and that it passes CheckVersion for its version.
func TestGenerate_VersionGoldenFiles(t *testing.T) {
	for _, g := range versionGolden {
		for _, v := range olderVersions {
			t.Run(g.name+"/"+v, func(t *testing.T) {
				got := generateVersion(t, g, v)
				compareOrUpdate(t, g.out+".envoy-"+v+".yaml", got, "go test ./envoy -run TestGenerate_VersionGoldenFiles -update")
				if err := CheckVersion(got, v); err != nil {
					t.Errorf("CheckVersion(generated, %s) = %v, want nil", v, err)
				}
			})
		}
	}
}

// TestGenerate_DefaultVersionIsUnchanged verifies 1.40, the default, is
// the priority_group topology the repository's envoy.yaml holds.
func TestGenerate_DefaultVersionIsUnchanged(t *testing.T) {
	c := loadConfig(t, "../examples/config.yaml")
	if c.Envoy.Version != config.EnvoyV140 {
		t.Fatalf("default envoy.version: got %q, want %q", c.Envoy.Version, config.EnvoyV140)
	}
	got := generateVersion(t, repoFiles[0], config.EnvoyV140)
	want, err := os.ReadFile(repoFiles[0].out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("1.40 output differs from %s:\n%s", repoFiles[0].out, firstDiff(string(got), string(want)))
	}
}

// failoverAction is the first route's action of the generated bootstrap.
func failoverAction(t *testing.T, c *config.Config) (*routev3.RouteAction, []*clusterv3.Cluster) {
	t.Helper()
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	return hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetRoute(), b.GetStaticResources().GetClusters()
}

// TestGenerate_V139MatcherHasEverySlotAndCluster verifies the 1.39 matcher
// maps previous attempt counts 0..A-1 to slot headers 1..A, each naming
// every provider cluster, with no on_no_match to fall through to.
func TestGenerate_V139MatcherHasEverySlotAndCluster(t *testing.T) {
	c := loadConfig(t, "testdata/mixed.config.yaml")
	c.Envoy.Version = config.EnvoyV139
	a, _ := failoverAction(t, c)
	if !a.GetRetryPolicy().GetRefreshClusterOnRetry() {
		t.Errorf("refresh_cluster_on_retry: got false, want true")
	}
	var spec matcherspecv3.MatcherClusterSpecifier
	if err := a.GetInlineClusterSpecifierPlugin().GetExtension().GetTypedConfig().UnmarshalTo(&spec); err != nil {
		t.Fatalf("cluster specifier: %v", err)
	}
	top := spec.GetClusterMatcher()
	if top.GetOnNoMatch() != nil {
		t.Errorf("top-level on_no_match: got %v, want none", top.GetOnNoMatch())
	}
	slots := top.GetMatcherTree().GetExactMatchMap().GetMap()
	if got, want := len(slots), c.MaxAttempts(); got != want {
		t.Fatalf("attempt-count keys: got %d, want %d (max attempts)", got, want)
	}
	clusters := providerClusters(c)
	for n := 1; n <= c.MaxAttempts(); n++ {
		om := slots[fmt.Sprint(n-1)]
		if om == nil {
			t.Fatalf("no key %q for attempt %d", fmt.Sprint(n-1), n)
		}
		m := om.GetMatcher()
		var in matcherv3.HttpRequestHeaderMatchInput
		if !unpack(m.GetMatcherTree().GetInput().GetTypedConfig(), &in) || in.GetHeaderName() != contract.SlotHeader(n) {
			t.Errorf("attempt %d reads %q, want %q", n, in.GetHeaderName(), contract.SlotHeader(n))
		}
		if m.GetOnNoMatch() != nil {
			t.Errorf("slot %d has an on_no_match: an unknown slot value would take it", n)
		}
		var got []string
		walkClusterActions(m, "", func(_, cl string) { got = append(got, cl) })
		slices.Sort(got)
		want := slices.Sorted(slices.Values(clusters))
		if !slices.Equal(got, want) {
			t.Errorf("slot %d leaves: got %q, want %q", n, got, want)
		}
	}
}

// TestGenerate_V138ShapesAndRoute verifies the 1.38 topology: the route reads
// the shape from cluster_header with previous_priorities and no cluster
// refresh, every shape is an aggregate of provider clusters in plan order
// with the attempt phase as its upstream filter, and provider clusters have
// no priority-1 endpoint an aggregate would try as the next child.
func TestGenerate_V138ShapesAndRoute(t *testing.T) {
	c := loadConfig(t, "testdata/mixed.config.yaml")
	c.Envoy.Version = config.EnvoyV138
	a, clusters := failoverAction(t, c)
	if a.GetClusterHeader() != contract.HeaderCluster {
		t.Errorf("cluster_header: got %q, want %q", a.GetClusterHeader(), contract.HeaderCluster)
	}
	rp := a.GetRetryPolicy()
	if rp.GetRefreshClusterOnRetry() || rp.GetRetryPriority().GetName() != previousPrioritiesPlugin {
		t.Errorf("retry policy: refresh %v, retry_priority %q; want false, %q", rp.GetRefreshClusterOnRetry(), rp.GetRetryPriority().GetName(), previousPrioritiesPlugin)
	}
	var shapes []string
	for _, cl := range clusters {
		var agg aggregatev3.ClusterConfig
		if !unpack(cl.GetClusterType().GetTypedConfig(), &agg) {
			if p := c.ProviderByCluster(cl.GetName()); p != nil && len(cl.GetLoadAssignment().GetEndpoints()) != 1 {
				t.Errorf("provider cluster %q: %d localities, want 1 (no unavailable fallback on 1.38)", cl.GetName(), len(cl.GetLoadAssignment().GetEndpoints()))
			}
			continue
		}
		shapes = append(shapes, cl.GetName())
		if cl.GetName() != contract.ShapeCluster(agg.GetClusters()) {
			t.Errorf("aggregate %q has children %q", cl.GetName(), agg.GetClusters())
		}
		opts, _ := httpOptions(cl)
		if f := opts.GetHttpFilters(); len(f) != 2 || f[0].GetName() != filterExtProc {
			t.Errorf("aggregate %q upstream filters: got %d, want the attempt-phase ext_proc then upstream_codec", cl.GetName(), len(f))
		}
	}
	var want []string
	for _, s := range c.Shapes() {
		want = append(want, contract.ShapeCluster(s))
	}
	if !slices.Equal(shapes, want) || len(want) == 0 {
		t.Errorf("shape clusters: got %q, want %q", shapes, want)
	}
}

// TestGenerate_V138RefusesEnvoyHeldKeysInShapes verifies a provider whose
// key Envoy injects cannot be an aggregate's child on 1.38.
func TestGenerate_V138RefusesEnvoyHeldKeysInShapes(t *testing.T) {
	c := loadConfig(t, "../examples/mesh-config.yaml")
	c.Envoy.Version = config.EnvoyV138
	_, err := Bootstrap(c)
	if !errors.Is(err, ErrGenerate) || !strings.Contains(err.Error(), "never runs a child's upstream filters") {
		t.Errorf("Bootstrap(mesh, 1.38) = %v, want ErrGenerate about child upstream filters", err)
	}
}

// TestCheckVersion_RefusesWhatTheVersionLacks verifies CheckVersion names
// every field or extension a version does not have, and every broken
// reference of its topology.
func TestCheckVersion_RefusesWhatTheVersionLacks(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v140, v139, v138 := read("envoy.yaml"), read("testdata/example.envoy-1.39.yaml"), read("testdata/example.envoy-1.38.yaml")
	tests := []struct {
		name    string
		yaml    string
		version string
		want    []string
	}{
		{"priority_group on 1.39", v140, "1.39", []string{routePath + ".route.inline_cluster_specifier_plugin.extension.typed_config: the priority_group topology needs Envoy 1.40: generate with --envoy-version 1.39",
			"envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier"}},
		{"priority_group and refresh on 1.38", v140, "1.38", []string{"the priority_group topology needs Envoy 1.40", routePath + ".route.retry_policy: field refresh_cluster_on_retry of envoy.config.route.v3.RetryPolicy does not exist in Envoy 1.38"}},
		{"matcher on 1.38", v139, "1.38", []string{"Envoy 1.38 never re-runs a matcher cluster specifier"}},
		{"matcher without refresh", strings.Replace(v139, "refresh_cluster_on_retry: true", "refresh_cluster_on_retry: false", 1), "1.39", []string{"must be true with the matcher cluster specifier"}},
		{"matcher leaf names a missing cluster", strings.Replace(v139, "cluster: groq", "cluster: grok", 1), "1.39", []string{`names cluster "grok", which static_resources.clusters does not define`}},
		{"shape route without previous_priorities", strings.Replace(v138, previousPrioritiesBlock, "", 1), "1.38", []string{routePath + ".route.retry_policy.retry_priority: must be envoy.retry_priorities.previous_priorities"}},
		{"aggregate child missing", strings.Replace(v138, "- groq\n", "- grok\n", 1), "1.38", []string{`the aggregate cluster names cluster "grok"`}},
		{"aggregate child twice", strings.Replace(v138, "- groq\n", "- openai\n", 1), "1.38", []string{`cluster "openai" is also child 0`}},
		{"unknown version", v140, "1.37", []string{`Envoy version "1.37" is not supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckVersion([]byte(tt.yaml), tt.version)
			if !errors.Is(err, ErrCheck) {
				t.Fatalf("CheckVersion = %v, want an ErrCheck", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckVersion error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// previousPrioritiesBlock is the generated route's retry_priority.
const previousPrioritiesBlock = `                    retry_priority:
                      name: envoy.retry_priorities.previous_priorities
                      typed_config:
                        '@type': type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
                        update_frequency: 1
`

// TestCheckVersion_EachVersionAcceptsItsOwn verifies the example's
// generated config for each version passes that version's check, and
// Check is CheckVersion at 1.40.
func TestCheckVersion_EachVersionAcceptsItsOwn(t *testing.T) {
	for _, v := range Versions() {
		t.Run(v, func(t *testing.T) {
			if err := CheckVersion(generateVersion(t, repoFiles[0], v), v); err != nil {
				t.Errorf("CheckVersion(example %s) = %v", v, err)
			}
		})
	}
	if err := Check(generateVersion(t, repoFiles[0], config.EnvoyV139)); err != nil {
		t.Errorf("Check (1.40) of the 1.39 config = %v, want nil: 1.40 has every 1.39 field", err)
	}
}

// TestLosses_OlderVersionsSayWhatTheyLose verifies check has something to
// say for each older version and nothing for 1.40.
func TestLosses_OlderVersionsSayWhatTheyLose(t *testing.T) {
	for _, v := range Versions() {
		got := Losses(v)
		if (v == config.EnvoyV140) != (len(got) == 0) {
			t.Errorf("Losses(%s): got %d lines", v, len(got))
		}
	}
}

// FuzzCheckVersion verifies that CheckVersion never panics and that every
// error it returns is an ErrCheck problem, for every version and input.
func FuzzCheckVersion(f *testing.F) {
	for _, p := range []string{"testdata/example.envoy-1.38.yaml", "testdata/example.envoy-1.39.yaml", "testdata/mixed.envoy-1.38.yaml", "testdata/minimal.envoy.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for i := range Versions() {
			f.Add(b, uint8(i))
		}
	}
	f.Add([]byte("static_resources: {clusters: [{name: a, cluster_type: {name: envoy.clusters.aggregate}}]}"), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, v uint8) {
		vs := Versions()
		if err := CheckVersion(b, vs[int(v)%len(vs)]); err != nil && !errors.Is(err, ErrCheck) {
			t.Errorf("CheckVersion() = %v, not an ErrCheck", err)
		}
	})
}

// TestDocs_CompatibilityCoversEveryVersion verifies docs/compatibility.md
// has a section per supported version and names every header the route
// phase writes for the older topologies.
func TestDocs_CompatibilityCoversEveryVersion(t *testing.T) {
	b, err := os.ReadFile("../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, v := range Versions() {
		if !strings.Contains(doc, "\n## "+v+":") {
			t.Errorf("docs/compatibility.md has no \"## %s:\" section", v)
		}
	}
	for _, name := range []string{contract.HeaderAttemptCount, contract.SlotHeaderPrefix, contract.HeaderCluster, contract.ShapePrefix, "envoy.max_shapes", "llm_failover_shape_fallbacks_total"} {
		if !strings.Contains(doc, name) {
			t.Errorf("docs/compatibility.md does not name %q", name)
		}
	}
}
