package deploy

import "google.golang.org/protobuf/proto"

// validateEnvoyAPI refuses what Envoy release version's API lacks.
func validateEnvoyAPI(version string, m proto.Message) error {
	_, _ = version, m // TODO(k8s): envoy.ValidateAPI(version, m) once it lands on main
	return nil
}
