package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/istio"
)

const istioUsage = `usage: llm-failover istio-config --config FILE --istio-version 1.30|1.31 --host NAME [flags]
  writes the EnvoyFilters, ServiceEntries, DestinationRules and the ext_proc
  Service that run llm-failover behind an Istio ingress gateway (docs/istio.md)
`

// istioConfig is the istio-config command.
func istioConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("istio-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "llm-failover configuration file; envoy.ext_proc_address must be the Service, NAME.NAMESPACE.svc.cluster.local:PORT")
	var o istio.Options
	fs.StringVar(&o.IstioVersion, "istio-version", "", "the Istio release of the mesh: 1.30 (Envoy 1.38) or 1.31 (Envoy 1.39)")
	hosts := fs.String("host", "", "the host names (comma-separated) clients send LLM requests to through the gateway")
	fs.StringVar(&o.GatewayNamespace, "gateway-namespace", "istio-system", "the ingress gateway's namespace")
	gwSel := fs.String("gateway-selector", "istio=ingressgateway", "the gateway pods' labels, KEY=VALUE[,KEY=VALUE]")
	fs.IntVar(&o.GatewayPort, "gateway-port", 80, "the port of the Gateway server that receives the hosts")
	fs.StringVar(&o.SidecarNamespace, "sidecar-namespace", "", "also patch the sidecars of this namespace's pods (with --sidecar-selector)")
	scSel := fs.String("sidecar-selector", "", "the labels, KEY=VALUE[,KEY=VALUE], of the pods whose sidecars call the hosts")
	fs.IntVar(&o.SidecarPort, "sidecar-port", 80, "the port those pods call the hosts on")
	out := fs.String("out", "", "write the objects here instead of standard output")
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "istio-config: unexpected argument %q\n%s", fs.Arg(0), istioUsage)
		return 2
	}
	if *path == "" || o.IstioVersion == "" || *hosts == "" {
		fmt.Fprint(stderr, "istio-config: --config, --istio-version and --host are required\n"+istioUsage)
		return 2
	}
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			o.Hosts = append(o.Hosts, h)
		}
	}
	var err error
	if o.GatewaySelector, err = parseLabels(*gwSel); err != nil {
		fmt.Fprintf(stderr, "istio-config: --gateway-selector: %v\n", err)
		return 2
	}
	if o.SidecarSelector, err = parseLabels(*scSel); err != nil {
		fmt.Fprintf(stderr, "istio-config: --sidecar-selector: %v\n", err)
		return 2
	}
	o.SourceName = *path
	c, err := config.Load(*path)
	if err != nil {
		printProblems(stderr, *path, err)
		return 1
	}
	b, err := istio.Generate(c, o)
	if err != nil {
		fmt.Fprintf(stderr, "istio-config: cannot write the Istio objects:\n")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return 1
	}
	return writeOutput(*out, b, stdout, stderr)
}

// parseLabels reads KEY=VALUE[,KEY=VALUE]; empty is none.
func parseLabels(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label %q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
