package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/llm-failover/llm-failover/config"
)

// Authorizer decides whether a caller may change breakers: it holds the
// admin token's digest (never the token in a form a log could print) and
// the allowed mTLS identities.
type Authorizer struct {
	digest     [sha256.Size]byte // of the token; valid when hasToken
	hasToken   bool
	identities []string
}

// ErrShortToken is NewAuthorizer's error for a token below
// config.MinAdminTokenLen bytes.
var ErrShortToken = fmt.Errorf("admin token shorter than %d bytes", config.MinAdminTokenLen)

// NewAuthorizer reads the admin token from a.TokenFile, else from the
// environment variable a.TokenEnv (through getenv; nil means os.Getenv).
// No token and no identity is valid: every admin action is then refused.
func NewAuthorizer(a config.Admin, getenv func(string) string) (*Authorizer, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	z := &Authorizer{identities: slices.Clone(a.Identities)}
	var token, from string
	switch {
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin.token_file: %w", err)
		}
		token, from = strings.TrimSpace(string(b)), "admin.token_file "+a.TokenFile
	case a.TokenEnv != "":
		token, from = strings.TrimSpace(getenv(a.TokenEnv)), "$"+a.TokenEnv
	}
	if token == "" && a.TokenFile == "" {
		return z, nil
	}
	if len(token) < config.MinAdminTokenLen {
		return nil, fmt.Errorf("%s: %w", from, ErrShortToken)
	}
	z.digest, z.hasToken = sha256.Sum256([]byte(token)), true
	return z, nil
}

// Enabled reports whether any caller can be authorized.
func (z *Authorizer) Enabled() bool { return z != nil && (z.hasToken || len(z.identities) > 0) }

// Authorize returns nil when the caller of ctx (a gRPC server context)
// sends the admin token ("authorization: Bearer TOKEN") or presents a
// verified client certificate with an allowed identity; else a gRPC status
// error: UNAUTHENTICATED without credentials, PERMISSION_DENIED with wrong
// ones or when admin actions are disabled. The identity is returned for
// the log ("token" for the token).
func (z *Authorizer) Authorize(ctx context.Context) (who string, err error) {
	if !z.Enabled() {
		return "", status.Error(codes.PermissionDenied, "admin actions are disabled: set admin.token_file, $"+config.DefaultAdminTokenEnv+" or admin.identities")
	}
	if id, ok := z.identity(ctx); ok {
		return id, nil
	}
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "an admin token (authorization: Bearer TOKEN) or an allowed client certificate is required")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if !ok || !z.hasToken || subtle.ConstantTimeCompare(got[:], z.digest[:]) != 1 {
		return "", status.Error(codes.PermissionDenied, "admin token refused")
	}
	return "token", nil
}

// identity returns the caller's verified certificate identity when it is
// one of the allowed identities.
func (z *Authorizer) identity(ctx context.Context) (string, bool) {
	if len(z.identities) == 0 {
		return "", false
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	for _, id := range identities(info.State.VerifiedChains[0][0]) {
		if slices.Contains(z.identities, id) {
			return id, true
		}
	}
	return "", false
}

// identities are a certificate's URI and DNS SANs and its common name.
func identities(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	out = append(out, c.DNSNames...)
	if c.Subject.CommonName != "" {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// errNoBus is the error of an event stream on a server without a Bus.
var errNoBus = errors.New("no audit event bus on this server")
