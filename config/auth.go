package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Auth is a provider's credential.
type Auth struct {
	// Header carries the key. Default per API: authorization (openai,
	// openai-compatible), x-api-key (anthropic), x-goog-api-key (gemini),
	// api-key (azure-openai).
	Header string `json:"header,omitempty"`
	// Scheme prefixes the key, e.g. "Bearer". Default "Bearer" when Header is
	// authorization, empty otherwise.
	Scheme string `json:"scheme,omitempty"`
	// KeyEnv names the environment variable holding the key.
	KeyEnv string `json:"key_env,omitempty"`
	// KeyFile is a file holding the key (surrounding white space is trimmed).
	// Exactly one of KeyEnv and KeyFile, or neither for providers that need no key.
	KeyFile string `json:"key_file,omitempty"`
	// HeldBy is where the key is kept: "server" (the default: llm-failover
	// reads KeyEnv or KeyFile and the attempt phase sets Header) or "envoy"
	// (Envoy injects Header from SecretFile on the provider's cluster; the
	// key never crosses the gRPC channel; recommended for meshes). With
	// "envoy", KeyEnv and KeyFile must be unset.
	HeldBy KeyHolder `json:"held_by,omitempty"`
	// SecretFile is the SDS file Envoy reads the key from (a DiscoveryResponse
	// with one generic_secret; `llm-failover envoy-config --secret-template`
	// prints it). Required with HeldBy "envoy", not allowed otherwise; an
	// absolute path ending in .yaml, .yml or .json. Envoy re-reads it when a
	// new file is moved onto the path.
	SecretFile string `json:"secret_file,omitempty"`
}

// KeyHolder says which side holds a provider's key: the llm-failover server,
// which reads it and sets the credential header in the attempt phase, or
// Envoy, which injects it on the provider's cluster from an SDS secret file
// so that the key never crosses the gRPC channel.
type KeyHolder string

// The key holders.
const (
	// KeyHeldByServer: the server reads auth.key_env or auth.key_file and the
	// attempt phase sets the credential header. The default.
	KeyHeldByServer KeyHolder = "server"
	// KeyHeldByEnvoy: envoy-config generates a credential_injector upstream
	// filter on the provider's cluster reading auth.secret_file; the server
	// never sees the key. Recommended for mesh deployments.
	KeyHeldByEnvoy KeyHolder = "envoy"
)

// String returns the holder's YAML name, or a quoted unknown value.
func (k KeyHolder) String() string {
	switch k {
	case KeyHeldByServer, KeyHeldByEnvoy:
		return string(k)
	}
	return fmt.Sprintf("KeyHolder(%q)", string(k))
}

// HeldByEnvoy reports whether Envoy injects the provider's key.
func (a Auth) HeldByEnvoy() bool { return a.HeldBy == KeyHeldByEnvoy }

// applyAuthDefaults fills auth.held_by.
func applyAuthDefaults(a *Auth) {
	if a.HeldBy == "" {
		a.HeldBy = KeyHeldByServer
	}
}

// validateAuth checks where a provider's key is held: with held_by: envoy
// the key lives only in the SDS secret file Envoy reads (an absolute path
// ending in .yaml, .yml or .json, the extensions Envoy's loader tells YAML
// from JSON by), so the server-side sources key_env and key_file must be
// unset; with held_by: server there is no secret file.
func validateAuth(path string, a *Auth, bad func(string, string, ...any)) {
	switch a.HeldBy {
	case KeyHeldByServer:
		if a.SecretFile != "" {
			bad(path+".secret_file", "is read by Envoy only with held_by: envoy (held_by is server)")
		}
	case KeyHeldByEnvoy:
		if a.KeyEnv != "" || a.KeyFile != "" {
			bad(path, "held_by: envoy keeps the key out of llm-failover: remove key_env and key_file")
		}
		switch f := a.SecretFile; {
		case f == "":
			bad(path+".secret_file", "required with held_by: envoy")
		case !filepath.IsAbs(f):
			bad(path+".secret_file", "%q must be an absolute path (Envoy resolves it in its own working directory)", f)
		case !secretFileExt(f):
			bad(path+".secret_file", "%q must end in .yaml, .yml or .json (Envoy parses the SDS file by its extension)", f)
		}
	default:
		bad(path+".held_by", "%q is not one of [server envoy]", string(a.HeldBy))
	}
}

func secretFileExt(f string) bool {
	f = strings.ToLower(f)
	return strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".json")
}

// ReadKey returns the provider's key from its environment variable or file,
// with surrounding white space trimmed. No source returns "", nil. A source
// that is unset, unreadable, empty or only white space is an error naming the
// variable or file: a provider configured with a key must never be called
// without one. The key is never part of an error.
//
// A key held by Envoy (held_by: envoy) is never read here: "", nil.
func (a Auth) ReadKey() (string, error) {
	switch {
	case a.HeldByEnvoy():
		return "", nil
	case a.KeyEnv != "":
		v, ok := os.LookupEnv(a.KeyEnv)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", a.KeyEnv)
		}
		if v = strings.TrimSpace(v); v == "" {
			return "", fmt.Errorf("environment variable %s is empty (or only white space)", a.KeyEnv)
		}
		return v, nil
	case a.KeyFile != "":
		b, err := os.ReadFile(a.KeyFile)
		if err != nil {
			return "", fmt.Errorf("key file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("key file %s is empty (or only white space)", a.KeyFile)
		}
		return v, nil
	}
	return "", nil
}
