package access

import (
	"net/netip"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// FuzzIdentify feeds arbitrary keys, header values and addresses to the
// key and CIDR matching: it must never panic, only a configured key may
// match a keyed client, and a source-identified client's sources must
// contain the address.
func FuzzIdentify(f *testing.F) {
	p := listedPolicy(f, "")
	for _, s := range [][4]string{
		{"Bearer sk-a", "", "10.0.0.1:1", ""},
		{"", "sk-b", "[::1]:80", ""},
		{"bearer", "", "192.168.1.1", "spiffe://x"},
		{"Bearer \x00", "\xff", "[::ffff:192.168.1.1]:0", ""},
		{"", "", "1.2.3.4:99999", ""},
		{"", "", "[fe80::1%eth0]:1", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, auth, apiKey, source, san string) {
		c := Caller{Header: headers("authorization", auth, "x-api-key", apiKey), Source: source, URISAN: san}
		id, r := p.Identify(c)
		if id.Client == nil {
			t.Fatalf("Identify(%q, %q, %q) returned no client", auth, apiKey, source)
		}
		switch id.By {
		case "api_key":
			if r != InvalidKey && p.matchKey(p.presentedKey(c.Header)) != id.Client {
				t.Errorf("key-identified %q without its key", id.Client.Name)
			}
			if r == Allowed && id.Client.Name != "team-a" && id.Client.Name != "team-b" {
				t.Errorf("key identified %q", id.Client.Name)
			}
		case "source":
			a, ok := ParseAddress(source)
			if !ok || !contains(id.Client.sources, a) {
				t.Errorf("source %q identified %q", source, id.Client.Name)
			}
		}
	})
}

// FuzzParseSource checks that every accepted source is a masked prefix that
// contains its own address, and that ParseAddress agrees with netip.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "::ffff:10.0.0.0/104", "1.2.3.4/33", "fe80::1%eth0", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pr, err := config.ParseSource(s)
		if err == nil {
			if !pr.IsValid() || pr != pr.Masked() || !pr.Contains(pr.Addr()) {
				t.Errorf("ParseSource(%q) = %v: not a usable prefix", s, pr)
			}
		}
		if a, ok := ParseAddress(s); ok {
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
				t.Errorf("ParseAddress(%q) = %v", s, a)
			}
			if _, err := netip.ParseAddrPort(s); err != nil {
				if _, err := netip.ParseAddr(s); err != nil {
					t.Errorf("ParseAddress(%q) accepted what netip refuses", s)
				}
			}
		}
	})
}
