package deploy

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test.
var chartDir = filepath.Join("helm", "llm-failover")

// The release the plain manifests are rendered for.
const (
	releaseName      = "llm-failover"
	releaseNamespace = "llm-failover"
)

// minKubeVersion is the oldest Kubernetes the chart supports (Chart.yaml
// kubeVersion): the preStop sleep action is on by default from 1.30.
var minKubeVersion = chartutil.KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30"}

// render renders the chart as `helm template` does, for release
// llm-failover in namespace llm-failover, with values (a YAML document)
// over the chart's defaults. It returns the manifest: every object, in
// Helm's install order, as one multi-document YAML.
func render(values string) (string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return "", fmt.Errorf("load chart: %w", err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(values), &vals); err != nil {
		return "", fmt.Errorf("values: %w", err)
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	inst := action.NewInstall(cfg)
	inst.DryRun = true
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = releaseName
	inst.Namespace = releaseNamespace
	inst.KubeVersion = &minKubeVersion
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

// mustRender renders values or fails the test.
func mustRender(t *testing.T, values string) string {
	t.Helper()
	m, err := render(values)
	if err != nil {
		t.Fatalf("render with values %q: %v", values, err)
	}
	return m
}

// object is one rendered Kubernetes object: its YAML and the fields every
// object has.
type object struct {
	source     string // the template it came from
	yaml       []byte
	apiVersion string
	kind       string
	name       string
	namespace  string
}

func (o object) String() string { return fmt.Sprintf("%s %s (%s)", o.kind, o.name, o.source) }

// splitManifest cuts a manifest into its objects, in order.
func splitManifest(t *testing.T, manifest string) []object {
	t.Helper()
	var out []object
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("manifest document %s does not parse: %v\n%s", k, err, doc)
		}
		if head.Kind == "" && onlyComments(doc) {
			continue
		}
		src := ""
		if line, _, ok := strings.Cut(doc, "\n"); ok && strings.HasPrefix(line, "# Source: ") {
			src = strings.TrimPrefix(line, "# Source: ")
		}
		out = append(out, object{source: src, yaml: []byte(doc), apiVersion: head.APIVersion, kind: head.Kind,
			name: head.Metadata.Name, namespace: head.Metadata.Namespace})
	}
	return out
}

// kinds lists the objects' kinds, sorted, for messages.
func kinds(objs []object) string {
	var b bytes.Buffer
	ks := make([]string, 0, len(objs))
	for _, o := range objs {
		ks = append(ks, o.kind)
	}
	sort.Strings(ks)
	b.WriteString(strings.Join(ks, ","))
	return b.String()
}

// onlyComments reports a YAML document of comments alone (a file header).
func onlyComments(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}
