package envoymodel

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	credinjectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/credential_injector/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/injected_credentials/generic/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// credInjector is envoy.filters.http.credential_injector as an upstream
// HTTP filter with the generic credential
// (source/extensions/filters/http/credential_injector/, registered as an
// UpstreamHttpFilterConfigFactory in config.cc;
// source/extensions/http/injected_credentials/generic/). It is a decoder
// filter only: it acts on the request headers and never sees a response.
type credInjector struct {
	name string
	// after is how many of the cluster's ext_proc filters come before it.
	after int
	// overwrite and allowWithout are CredentialInjector.overwrite and
	// allow_request_without_credential (both default false).
	overwrite, allowWithout bool
	header, prefix          string // Generic.header (default authorization), header_value_prefix
	secret                  *sdsFileSecret
}

// compileCredInjector reads a credential_injector's config. Only the
// generic credential from an SDS path_config_source file is modelled;
// anything else is a load error, never a silently skipped filter.
func compileCredInjector(name string, pb *credinjectorv3.CredentialInjector) (*credInjector, error) {
	if err := pb.ValidateAll(); err != nil {
		return nil, fmt.Errorf("upstream filter %q: %w", name, err)
	}
	g := &genericv3.Generic{}
	if tc := pb.GetCredential().GetTypedConfig(); tc == nil || !tc.MessageIs(g) {
		return nil, fmt.Errorf("upstream filter %q: credential %q is not modelled (only the generic credential)", name, pb.GetCredential().GetName())
	} else if err := tc.UnmarshalTo(g); err != nil {
		return nil, fmt.Errorf("upstream filter %q: %w", name, err)
	}
	if err := g.ValidateAll(); err != nil {
		return nil, fmt.Errorf("upstream filter %q: %w", name, err)
	}
	sds := g.GetCredential()
	pcs := sds.GetSdsConfig().GetPathConfigSource()
	switch {
	case sds.GetSdsConfig() == nil:
		return nil, fmt.Errorf("upstream filter %q: a static secret (no sds_config) is not modelled", name)
	case pcs == nil || pcs.GetPath() == "":
		return nil, fmt.Errorf("upstream filter %q: only sds_config.path_config_source is modelled", name)
	case pcs.GetWatchedDirectory() != nil:
		return nil, fmt.Errorf("upstream filter %q: path_config_source.watched_directory is not modelled", name)
	}
	header := strings.ToLower(g.GetHeader())
	if header == "" {
		header = "authorization" // generic/config.cc: "Authorization" when unset
	}
	ci := &credInjector{name: name, overwrite: pb.GetOverwrite(), allowWithout: pb.GetAllowRequestWithoutCredential(),
		header: header, prefix: g.GetHeaderValuePrefix(), secret: &sdsFileSecret{path: pcs.GetPath(), name: sds.GetName()}}
	ci.secret.refresh() // FilesystemSubscriptionImpl::start reads the file once
	return ci, nil
}

// decode is CredentialInjectorFilter::decodeHeaders over the shared request
// header map: generic_impl.cc GenericCredentialInjector::inject, then
// FilterConfig::injectCredential. A header already present is kept without
// overwrite (AlreadyExists, the request continues); an empty credential (no
// secret yet, or an empty one) fails the injection: the request continues
// without it when allow_request_without_credential, else the filter sends
// a 401 local reply "Failed to inject credential." (details
// failed_to_inject_credential), which as an upstream filter's local reply
// goes to the client at once, unseen by the upstream filters (the
// attempt-phase ext_proc included) and never retried (upstream_request.cc
// UpstreamFilterManager::sendLocalReply). A nil result continues.
func (ci *credInjector) decode(h *headerMap) *response {
	if !ci.overwrite && h.has(ci.header) {
		return nil
	}
	cred := ci.secret.credential()
	if cred == "" {
		if ci.allowWithout {
			return nil
		}
		return localReply(401, "failed_to_inject_credential", "Failed to inject credential.")
	}
	h.set(ci.header, ci.prefix+cred) // setCopy: replaces every value of the header
	return nil
}

// sdsFileSecret is a generic secret delivered by an SDS file subscription
// (source/extensions/config_subscription/filesystem/
// filesystem_subscription_impl.cc, source/common/secret/sds_api.cc).
//
// Envoy reads the file at start and again on each inotify MovedTo event on
// the path (a file renamed onto it), not when the file is written in place.
// The model has no watcher: on each request it compares the file at the
// path with the one it last read (os.SameFile: device and inode) and reads
// it again only when the file was replaced, which a rename onto the path
// does and an in-place write does not. Envoy applies the new file when its
// main thread handles the event, so a request right after the rename may
// still get the old key; the model applies it to the next request. It is
// more lenient than Envoy in two corners: a file created at the path without a rename, and one
// replaced by a rename of a hard link to the same inode. An update that
// Envoy rejects (unreadable, unparsable, not exactly one Secret, another
// secret's name, invalid) keeps the previous secret (SdsApi::onConfigUpdate
// returns an error before setSecret; onConfigUpdateFailed changes nothing).
// Only inline_string and inline_bytes generic secrets are modelled; any
// other DataSource is rejected as an update, with a warning in the error.
type sdsFileSecret struct {
	path, name string

	mu    sync.Mutex
	seen  os.FileInfo // the file last read, nil before one was
	value string      // the accepted secret; "" before one was
	err   error       // why the last update was rejected, for tests
}

// credential returns the secret a request sees: the last accepted one,
// after taking in a file that replaced the one last read.
func (s *sdsFileSecret) credential() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
	return s.value
}

func (s *sdsFileSecret) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
}

func (s *sdsFileSecret) refreshLocked() {
	fi, err := os.Stat(s.path)
	if err != nil || (s.seen != nil && os.SameFile(s.seen, fi)) {
		return // no file, or the same one: no MovedTo event happened
	}
	s.seen = fi
	v, err := s.load()
	if err != nil {
		s.err = err
		return
	}
	s.value, s.err = v, nil
}

// load parses the file as MessageUtil::loadFromFile does (YAML for .yaml
// and .yml, JSON otherwise; unknown fields are errors) into a
// DiscoveryResponse and applies SdsApi::onConfigUpdate's checks.
func (s *sdsFileSecret) load() (string, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return "", err
	}
	if l := strings.ToLower(s.path); strings.HasSuffix(l, ".yaml") || strings.HasSuffix(l, ".yml") {
		if b, err = yaml.YAMLToJSON(b); err != nil {
			return "", err
		}
	}
	dr := &discoveryv3.DiscoveryResponse{}
	if err := protojson.Unmarshal(b, dr); err != nil {
		return "", err
	}
	if n := len(dr.GetResources()); n != 1 {
		// SdsApi::validateUpdateSize: missing, or more than one.
		return "", fmt.Errorf("sds file %s: %d resources, want exactly 1", s.path, n)
	}
	sec := &tlsv3.Secret{}
	if err := dr.GetResources()[0].UnmarshalTo(sec); err != nil {
		return "", fmt.Errorf("sds file %s: %w", s.path, err)
	}
	if err := sec.ValidateAll(); err != nil {
		return "", fmt.Errorf("sds file %s: %w", s.path, err)
	}
	if sec.GetName() != s.name {
		return "", fmt.Errorf("sds file %s: Unexpected SDS secret (expecting %s): %s", s.path, s.name, sec.GetName())
	}
	switch v := sec.GetGenericSecret().GetSecret().GetSpecifier().(type) {
	case nil:
		return "", nil // no generic secret: the injector finds an empty credential
	case *corev3.DataSource_InlineString:
		return v.InlineString, nil
	case *corev3.DataSource_InlineBytes:
		return string(v.InlineBytes), nil
	}
	return "", errors.New("sds file " + s.path + ": only inline_string and inline_bytes generic secrets are modelled")
}
