package xds

import (
	"strconv"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
)

// FuzzBootstrapAddress verifies that any --xds-address is either refused
// with an error naming it or gives a bootstrap that passes envoy.Check;
// never a panic.
func FuzzBootstrapAddress(f *testing.F) {
	for _, s := range []string{"127.0.0.1:50052", "llm-failover:50052", "[::1]:1", "unix:/run/x.sock", "unix:", ":80", "host:0", "a:b:c", "", "\x00:1", "h\n:1"} {
		f.Add(s)
	}
	c, err := config.Load("../envoy/testdata/minimal.config.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		y, err := GenerateBootstrap(c, BootstrapOptions{Address: addr})
		if err != nil {
			if addr != "" && !strings.Contains(err.Error(), strconv.Quote(addr)) {
				t.Errorf("error %q does not name the address %q", err, addr)
			}
			return
		}
		if err := envoy.Check(y); err != nil {
			t.Errorf("address %q: bootstrap accepted but Check = %v", addr, err)
		}
	})
}
