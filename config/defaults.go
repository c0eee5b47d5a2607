package config

import (
	"time"

	"github.com/llm-failover/llm-failover/contract"
)

// Defaults shared by several sections or by other packages. A section's
// other defaults are in its applyDefaults; the breaker's come from the
// breaker package (see Breaker.applyDefaults).
const (
	DefaultGRPCAddress        = "127.0.0.1:50051"
	DefaultAdminAddress       = "127.0.0.1:9464"
	DefaultMetadataNamespace  = contract.DefaultNamespace
	DefaultMaxBodyBytes       = 4 << 20
	DefaultMaxTargets         = 8
	DefaultStreamedTimeout    = 60 * time.Second
	DefaultNonStreamedTimeout = 10 * time.Minute
)

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}
