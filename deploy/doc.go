// Package deploy checks what llm-failover gives Kubernetes and Istio
// operators: the Helm chart under helm/llm-failover, the plain manifests
// under kubernetes/ (the chart rendered with its defaults), and the output
// of `llm-failover istio-config`. Its tests render the chart with Helm's Go
// library and validate every object as the cluster would see it: against the
// Kubernetes OpenAPI schema of the release the k8s.io/api module belongs to,
// strict decoding into the k8s.io/api types, and the references between
// objects (selectors, named ports, volumes, the configuration itself).
//
// It is a module of its own (deploy/go.mod) so that Helm, the Kubernetes and
// the Istio modules never enter the product's module.
package deploy
