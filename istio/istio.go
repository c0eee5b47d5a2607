package istio

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v2"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
)

// Istio releases istio-config writes for, and the Envoy release each
// istio-proxy is built on.
const (
	V130 = "1.30"
	V131 = "1.31"
)

// Versions are the supported Istio releases, oldest first.
func Versions() []string { return []string{V130, V131} }

// EnvoyVersion is the envoy.version of the Envoy release Istio version
// ships (istio/proxy's pinned Envoy), or "" for an unsupported one.
func EnvoyVersion(istio string) string {
	switch istio {
	case V130:
		return "1.38"
	case V131:
		return "1.39"
	}
	return ""
}

// ErrOptions marks options or a configuration istio-config cannot write
// objects for.
var ErrOptions = errors.New("istio")

// Options say where the objects go. The zero value of every field but
// Hosts has a default (Defaults).
type Options struct {
	// IstioVersion is "1.30" or "1.31". Required.
	IstioVersion string
	// Hosts are the host names clients use for LLM requests through the
	// gateway (the virtual host's domains; "name" also matches "name:*").
	// Required; no VirtualService may claim them on the same gateway.
	Hosts []string
	// GatewayNamespace is the ingress gateway's namespace, where its
	// EnvoyFilter goes. Default "istio-system".
	GatewayNamespace string
	// GatewaySelector are the labels of the gateway's pods. Default
	// {istio: ingressgateway}.
	GatewaySelector map[string]string
	// GatewayPort is the port of the Gateway server that receives the LLM
	// hosts (its route configuration is http.<port>). Default 80.
	GatewayPort int
	// SidecarSelector, when set, also patches the sidecars of the pods
	// with these labels in SidecarNamespace, for their outbound calls to
	// Hosts on SidecarPort.
	SidecarSelector map[string]string
	// SidecarNamespace is where the sidecars' EnvoyFilter goes. Required
	// with SidecarSelector.
	SidecarNamespace string
	// SidecarPort is the port the workloads call Hosts on. Default 80.
	SidecarPort int
	// SourceName names the llm-failover config in the header comment.
	SourceName string
}

// Defaults returns o with every unset field defaulted.
func (o Options) Defaults() Options {
	if o.GatewayNamespace == "" {
		o.GatewayNamespace = "istio-system"
	}
	if len(o.GatewaySelector) == 0 {
		o.GatewaySelector = map[string]string{"istio": "ingressgateway"}
	}
	if o.GatewayPort == 0 {
		o.GatewayPort = 80
	}
	if o.SidecarPort == 0 {
		o.SidecarPort = 80
	}
	return o
}

// Check reports every problem of o (after Defaults), one line each,
// naming the option.
func (o Options) Check() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrOptions}, a...)...))
	}
	if EnvoyVersion(o.IstioVersion) == "" {
		bad("istio version %q is not supported: want one of %s", o.IstioVersion, strings.Join(Versions(), ", "))
	}
	if len(o.Hosts) == 0 {
		bad("hosts: name at least one host the gateway serves LLM requests on")
	}
	for _, h := range o.Hosts {
		if !validHost(h) {
			bad("host %q: want a DNS name (a leading \"*.\" allowed), not \"*\" alone", h)
		}
	}
	if !dnsLabel.MatchString(o.GatewayNamespace) {
		bad("gateway namespace %q is not a Kubernetes namespace name", o.GatewayNamespace)
	}
	checkSelector("gateway selector", o.GatewaySelector, bad)
	checkPort("gateway port", o.GatewayPort, bad)
	if len(o.SidecarSelector) > 0 || o.SidecarNamespace != "" {
		if !dnsLabel.MatchString(o.SidecarNamespace) {
			bad("sidecar namespace %q is not a Kubernetes namespace name (required with a sidecar selector)", o.SidecarNamespace)
		}
		if len(o.SidecarSelector) == 0 {
			bad("sidecar selector: required with a sidecar namespace (an empty selector would patch every sidecar of the namespace)")
		}
		checkSelector("sidecar selector", o.SidecarSelector, bad)
		checkPort("sidecar port", o.SidecarPort, bad)
	}
	return errors.Join(errs...)
}

var (
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsName     = regexp.MustCompile(`^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	labelKeyVal = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValue  = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
)

func validHost(h string) bool { return len(h) <= 253 && dnsName.MatchString(h) }

func checkSelector(what string, sel map[string]string, bad func(string, ...any)) {
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		if !labelKeyVal.MatchString(k) || !labelValue.MatchString(sel[k]) {
			bad("%s: %q=%q is not a Kubernetes label", what, k, sel[k])
		}
	}
}

func checkPort(what string, p int, bad func(string, ...any)) {
	if p < 1 || p > 65535 {
		bad("%s %d is not a port (1..65535)", what, p)
	}
}

// service is the Kubernetes Service of the ext_proc server, read from
// envoy.ext_proc_address.
type service struct {
	name, namespace, host string // host: the FQDN, as Istio names it
	port, adminPort       int
}

// istioCluster is the name Istio gives the outbound cluster of s's gRPC
// port (pilot model.BuildSubsetKey).
func (s service) istioCluster() string {
	return fmt.Sprintf("outbound|%d||%s", s.port, s.host)
}

// serviceOf reads the Service from c: envoy.ext_proc_address must be
// NAME.NAMESPACE.svc.DOMAIN:PORT (the chart writes it so), and the admin
// port is server.admin_address's.
func serviceOf(c *config.Config) (service, error) {
	addr := c.Envoy.ExtProcAddress
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	parts := strings.Split(host, ".")
	if err != nil || perr != nil || p < 1 || p > 65535 || len(parts) < 4 || parts[2] != "svc" ||
		!dnsLabel.MatchString(parts[0]) || !dnsLabel.MatchString(parts[1]) || !validHost(host) {
		return service{}, fmt.Errorf("%w: envoy.ext_proc_address: %q is not a Kubernetes Service address NAME.NAMESPACE.svc.cluster.local:PORT; istio-config points the gateway at that Service (the Helm chart's config sets it)", ErrOptions, addr)
	}
	s := service{name: parts[0], namespace: parts[1], host: host, port: p, adminPort: 9464}
	if _, ap, err := net.SplitHostPort(c.Server.AdminAddress); err == nil {
		if n, err := strconv.Atoi(ap); err == nil && n > 0 && n < 65536 && n != p {
			s.adminPort = n
		}
	}
	return s, nil
}

// Generate returns the objects for c and o as one multi-document YAML
// stream: a header comment, then the Service, the ServiceEntry and
// DestinationRule of each provider host, and the EnvoyFilters. c must have
// had ApplyDefaults and Validate run (config.Parse does both), and its
// envoy.version must be the Envoy release of o.IstioVersion
// (EnvoyVersion): the server serving c writes what that release's routes
// read.
func Generate(c *config.Config, o Options) ([]byte, error) {
	r, err := Build(c, o)
	if err != nil {
		return nil, err
	}
	o = o.Defaults()
	src := o.SourceName
	if src == "" {
		src = "an llm-failover config"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by llm-failover istio-config --istio-version %s from %s. Do not edit; regenerate.\n", o.IstioVersion, strings.Join(strings.Fields(src), " "))
	fmt.Fprintf(&b, "# Istio %s runs Envoy %s: the failover topology of envoy.version %s (docs/compatibility.md).\n", o.IstioVersion, EnvoyVersion(o.IstioVersion), EnvoyVersion(o.IstioVersion))
	b.WriteString("# Apply with kubectl apply -f; docs/istio.md says what else the mesh needs.\n")
	for i, f := range r.SDSFiles {
		if i == 0 {
			b.WriteString("# SDS files each patched proxy's pod must hold (keys held by Envoy; one secret of that name each):\n")
		}
		fmt.Fprintf(&b, "#   %s: secret %s\n", strings.Join(strings.Fields(f.Path), " "), strings.Join(strings.Fields(f.Name), " "))
	}
	for _, obj := range r.Objects {
		y, err := yaml.Marshal(obj.Doc)
		if err != nil {
			return nil, fmt.Errorf("istio: marshal %s %s: %w", obj.Kind, obj.Name, err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return []byte(b.String()), nil
}

// Result is what Build makes.
type Result struct {
	// Objects are the Kubernetes objects, in the order Generate prints them.
	Objects []Object
	// SDSFiles are the SDS files the patched proxies read (keys held by
	// Envoy): each must exist in the gateway's (and sidecars') pods.
	SDSFiles []envoy.SDSFile
}

// Object is one Kubernetes object istio-config writes.
type Object struct {
	Kind, Name, Namespace string
	// Doc is the whole object, keys in the order printed.
	Doc yaml.MapSlice
}

// Build returns the objects Generate prints, in that order, and the SDS
// files they need.
func Build(c *config.Config, o Options) (*Result, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil config", ErrOptions)
	}
	o = o.Defaults()
	var errs []error
	if err := o.Check(); err != nil {
		errs = append(errs, err)
	}
	svc, err := serviceOf(c)
	if err != nil {
		errs = append(errs, err)
	}
	if v := EnvoyVersion(o.IstioVersion); v != "" && c.Envoy.Version != v {
		errs = append(errs, fmt.Errorf("%w: envoy.version: %q, but Istio %s runs Envoy %s: set envoy.version: %q in the configuration llm-failover serves (its route phase writes what that version's routes read)", ErrOptions, c.Envoy.Version, o.IstioVersion, v, v))
	}
	if c.Envoy.ExtProcTLS != nil || c.Server.TLS != nil {
		errs = append(errs, fmt.Errorf("%w: envoy.ext_proc_tls and server.tls: leave them unset; in the mesh the sidecars' mutual TLS secures the ext_proc channel (PeerAuthentication STRICT, docs/istio.md)", ErrOptions))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	f, err := envoy.BuildFragments(c)
	if err != nil {
		return nil, err
	}
	objs := []Object{serviceObject(svc)}
	objs = append(objs, registryObjects(c, svc)...)
	efs, err := envoyFilters(f, svc, o)
	if err != nil {
		return nil, err
	}
	return &Result{Objects: append(objs, efs...), SDSFiles: f.SDSFiles}, nil
}
