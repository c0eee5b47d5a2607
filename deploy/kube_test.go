package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"
)

// objects are the decoded objects of one rendering, by kind.
type objects struct {
	configMaps      []*corev1.ConfigMap
	services        []*corev1.Service
	serviceAccounts []*corev1.ServiceAccount
	deployments     []*appsv1.Deployment
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
}

// decodeStrict decodes o into its k8s.io/api type, refusing unknown
// fields, after validating it against the Kubernetes OpenAPI schema
// (built-in kinds) or decoding it strictly into the Prometheus Operator's
// types (ServiceMonitor). Every problem is returned, naming the object.
func (s *objects) decodeStrict(o object) error {
	var target any
	switch o.apiVersion + " " + o.kind {
	case "v1 ConfigMap":
		v := &corev1.ConfigMap{}
		s.configMaps, target = append(s.configMaps, v), v
	case "v1 Service":
		v := &corev1.Service{}
		s.services, target = append(s.services, v), v
	case "v1 ServiceAccount":
		v := &corev1.ServiceAccount{}
		s.serviceAccounts, target = append(s.serviceAccounts, v), v
	case "apps/v1 Deployment":
		v := &appsv1.Deployment{}
		s.deployments, target = append(s.deployments, v), v
	case "policy/v1 PodDisruptionBudget":
		v := &policyv1.PodDisruptionBudget{}
		s.pdbs, target = append(s.pdbs, v), v
	case "networking.k8s.io/v1 NetworkPolicy":
		v := &networkingv1.NetworkPolicy{}
		s.netpols, target = append(s.netpols, v), v
	case "monitoring.coreos.com/v1 ServiceMonitor":
		v := &monitoringv1.ServiceMonitor{}
		s.serviceMonitors, target = append(s.serviceMonitors, v), v
	default:
		return fmt.Errorf("%s: unexpected kind %s %s", o, o.apiVersion, o.kind)
	}
	var errs []error
	if o.apiVersion != "monitoring.coreos.com/v1" {
		if err := validateKube(o.apiVersion, o.kind, o.yaml); err != nil {
			errs = append(errs, fmt.Errorf("%s: Kubernetes schema: %w", o, err))
		}
	}
	if err := yaml.UnmarshalStrict(o.yaml, target); err != nil {
		errs = append(errs, fmt.Errorf("%s: strict decoding: %w", o, err))
	}
	return errors.Join(errs...)
}

// checkObjects validates a rendering as the API server and the controllers
// would take it: each object against its schema and type, names and labels
// by Kubernetes' own validation, and every reference between the objects
// (selectors that select the pods, named ports that exist, volumes backed
// by a mount, the ConfigMap a valid llm-failover configuration whose
// listen ports are the container's). It returns every problem found.
func checkObjects(objs []object) (*objects, error) {
	s := &objects{}
	var errs []error
	for _, o := range objs {
		if err := s.decodeStrict(o); err != nil {
			errs = append(errs, err)
			continue
		}
		if o.namespace != releaseNamespace {
			errs = append(errs, fmt.Errorf("%s: namespace %q, want %q", o, o.namespace, releaseNamespace))
		}
	}
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	for _, m := range s.metas() {
		errs = append(errs, fieldErrs(m.GetName(), metavalidation.ValidateLabels(m.GetLabels(), field.NewPath("metadata", "labels")))...)
		for _, msg := range validation.IsDNS1123Subdomain(m.GetName()) {
			errs = append(errs, fmt.Errorf("metadata.name %q: %s", m.GetName(), msg))
		}
	}
	for _, svc := range s.services {
		for _, msg := range validation.IsDNS1035Label(svc.Name) {
			errs = append(errs, fmt.Errorf("Service %s: name: %s", svc.Name, msg))
		}
	}
	if len(s.deployments) != 1 || len(s.configMaps) != 1 || len(s.services) != 1 {
		errs = append(errs, fmt.Errorf("want one Deployment, ConfigMap and Service, got %d, %d, %d",
			len(s.deployments), len(s.configMaps), len(s.services)))
		return s, errors.Join(errs...)
	}
	errs = append(errs, s.checkDeployment()...)
	errs = append(errs, s.checkSelectors()...)
	return s, errors.Join(errs...)
}

// metas are the metadata of every object.
func (s *objects) metas() []metav1.Object {
	var out []metav1.Object
	for _, v := range s.configMaps {
		out = append(out, v)
	}
	for _, v := range s.services {
		out = append(out, v)
	}
	for _, v := range s.serviceAccounts {
		out = append(out, v)
	}
	for _, v := range s.deployments {
		out = append(out, v)
	}
	for _, v := range s.pdbs {
		out = append(out, v)
	}
	for _, v := range s.netpols {
		out = append(out, v)
	}
	for _, v := range s.serviceMonitors {
		out = append(out, v)
	}
	return out
}

func fieldErrs(obj string, l field.ErrorList) []error {
	var out []error
	for _, e := range l {
		out = append(out, fmt.Errorf("%s: %v", obj, e))
	}
	return out
}

// checkDeployment checks the pod template against itself, the ConfigMap
// and the ServiceAccount, and the configuration it runs.
func (s *objects) checkDeployment() []error {
	d, cm := s.deployments[0], s.configMaps[0]
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, a...)...))
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		bad("spec.selector: %v", err)
	} else if sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		bad("spec.selector %v does not select the pod template's labels %v", sel, d.Spec.Template.Labels)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		bad("want one container, got %d", len(pod.Containers))
		return errs
	}
	c := pod.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		for _, msg := range validation.IsValidPortName(p.Name) {
			bad("port name %q: %s", p.Name, msg)
		}
		ports[p.Name] = p.ContainerPort
	}
	for name, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			bad("%s: want an httpGet probe", name)
			continue
		}
		if _, ok := resolvePort(pr.HTTPGet.Port, ports); !ok {
			bad("%s: port %s is not a container port", name, pr.HTTPGet.Port.String())
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		bad("readinessProbe path %q, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		bad("want a preStop sleep (the image has no shell)")
	} else if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g <= c.Lifecycle.PreStop.Sleep.Seconds {
		bad("terminationGracePeriodSeconds %v leaves no time to drain after the preStop sleep of %ds", g, c.Lifecycle.PreStop.Sleep.Seconds)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			bad("volumeMount %s names no volume", m.Name)
		}
		mounted[m.Name] = true
	}
	for name, v := range volumes {
		if !mounted[name] {
			bad("volume %s is mounted nowhere", name)
		}
		if v.ConfigMap != nil && v.ConfigMap.Name != cm.Name {
			bad("volume %s: ConfigMap %s is not the chart's %s", name, v.ConfigMap.Name, cm.Name)
		}
	}
	if sa := pod.ServiceAccountName; len(s.serviceAccounts) > 0 && sa != s.serviceAccounts[0].Name {
		bad("serviceAccountName %q is not the chart's %q", sa, s.serviceAccounts[0].Name)
	}
	for _, e := range c.Env {
		if e.Value != "" && strings.Contains(strings.ToUpper(e.Name), "KEY") {
			bad("env %s holds a value in clear: keys come from Secrets", e.Name)
		}
	}

	// The configuration the container runs: valid for llm-failover, and
	// listening on the container's ports.
	body, ok := cm.Data["config.yaml"]
	if !ok {
		bad("ConfigMap %s has no config.yaml", cm.Name)
		return errs
	}
	if !slices.Equal(c.Args, []string{"serve", "--config", "/etc/llm-failover/config.yaml"}) {
		bad("args %q do not serve /etc/llm-failover/config.yaml", c.Args)
	}
	cfg, err := config.Parse([]byte(body))
	if err != nil {
		bad("the ConfigMap's config.yaml is not a valid llm-failover configuration: %v", err)
		return errs
	}
	for name, addr := range map[string]string{"grpc": cfg.Server.GRPCAddress, "http-admin": cfg.Server.AdminAddress} {
		if want := fmt.Sprintf(":%d", ports[name]); addr != want {
			bad("config listens on %q for port %s, want %q", addr, name, want)
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		need := c.Lifecycle.PreStop.Sleep.Seconds + int64(cfg.Server.DrainTimeout.D().Seconds())
		if g := pod.TerminationGracePeriodSeconds; g == nil || *g <= need {
			bad("terminationGracePeriodSeconds %v must exceed preStop %ds + server.drain_timeout %s", g,
				c.Lifecycle.PreStop.Sleep.Seconds, cfg.Server.DrainTimeout.D())
		}
	}
	return errs
}

// resolvePort finds a named or numbered port among ports.
func resolvePort(p intstr.IntOrString, ports map[string]int32) (int32, bool) {
	if p.Type == intstr.String {
		n, ok := ports[p.StrVal]
		return n, ok
	}
	for _, n := range ports {
		if n == p.IntVal {
			return n, true
		}
	}
	return 0, false
}

// checkSelectors checks that the Service, PodDisruptionBudget,
// NetworkPolicy and ServiceMonitor each reach the Deployment's pods and the
// ports they name.
func (s *objects) checkSelectors() []error {
	d := s.deployments[0]
	podLabels := labels.Set(d.Spec.Template.Labels)
	ports := map[string]int32{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	svc := s.services[0]
	if sel := labels.SelectorFromSet(svc.Spec.Selector); sel.Empty() || !sel.Matches(podLabels) {
		bad("Service %s: selector %v does not select the pods", svc.Name, svc.Spec.Selector)
	}
	svcPorts := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = true
		if n, ok := resolvePort(p.TargetPort, ports); !ok || n != p.Port {
			bad("Service %s: port %s targets %s, not the container port of that number", svc.Name, p.Name, p.TargetPort.String())
		}
	}
	if !svcPorts["grpc"] {
		bad("Service %s: no port named grpc (Istio takes the protocol from the name)", svc.Name)
	}
	for _, pdb := range s.pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
			bad("PodDisruptionBudget %s: selector does not select the pods (%v)", pdb.Name, err)
		}
	}
	for _, np := range s.netpols {
		if sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
			bad("NetworkPolicy %s: podSelector does not select the pods (%v)", np.Name, err)
		}
		for i, r := range np.Spec.Ingress {
			if len(r.From) == 0 {
				bad("NetworkPolicy %s: ingress[%d] admits every peer", np.Name, i)
			}
			for _, p := range r.Ports {
				if p.Port == nil {
					bad("NetworkPolicy %s: ingress[%d] opens every port", np.Name, i)
				} else if _, ok := resolvePort(*p.Port, ports); !ok {
					bad("NetworkPolicy %s: ingress[%d] port %s is not a container port", np.Name, i, p.Port.String())
				}
			}
			for j, peer := range r.From {
				if peer.PodSelector != nil && len(peer.PodSelector.MatchLabels) == 0 && len(peer.PodSelector.MatchExpressions) == 0 {
					bad("NetworkPolicy %s: ingress[%d].from[%d] selects every pod", np.Name, i, j)
				}
			}
		}
	}
	for _, sm := range s.serviceMonitors {
		if sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(svc.Labels)) {
			bad("ServiceMonitor %s: selector does not select the Service (%v)", sm.Name, err)
		}
		for _, ep := range sm.Spec.Endpoints {
			if !svcPorts[ep.Port] {
				bad("ServiceMonitor %s: endpoint port %q is not a Service port", sm.Name, ep.Port)
			}
		}
	}
	return errs
}
