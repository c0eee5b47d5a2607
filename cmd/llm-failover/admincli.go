package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// This file is the admin API's command line: status, events, explain,
// trip and reset, each a client of llmfailover.admin.v1.AdminService on
// the admin address (docs/admin.md).

// adminFlags are the flags every admin command takes.
type adminFlags struct {
	addr, configPath     string
	caFile, cert, key    string
	tokenFile, serverSNI string
	json                 bool
	timeout              time.Duration
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "admin", "", "admin address (default: --config's server.admin_address, else $LLM_FAILOVER_ADMIN, else "+config.DefaultAdminAddress+")")
	fs.StringVar(&f.configPath, "config", "", "read the admin address from this configuration file")
	fs.StringVar(&f.caFile, "ca", "", "connect with TLS, verifying the server with this PEM CA bundle (admin.tls)")
	fs.StringVar(&f.cert, "cert", "", "client certificate (PEM) for mutual TLS")
	fs.StringVar(&f.key, "key", "", "client key (PEM) for mutual TLS")
	fs.StringVar(&f.serverSNI, "server-name", "", "TLS server name to verify (default: the address's host)")
	fs.StringVar(&f.tokenFile, "token-file", "", "admin token file for trip and reset (default: $"+config.DefaultAdminTokenEnv+")")
	fs.BoolVar(&f.json, "json", false, "print the answers as JSON (proto field names)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "deadline of one call (not of events --follow)")
}

// dial connects to the admin API.
func (f *adminFlags) dial() (adminv1.AdminServiceClient, func(), error) {
	addr := f.addr
	if addr == "" && f.configPath != "" {
		c, err := config.Load(f.configPath)
		if err != nil {
			return nil, nil, err
		}
		addr = c.Server.AdminAddress
	}
	if addr == "" {
		addr = os.Getenv("LLM_FAILOVER_ADMIN")
	}
	if addr == "" {
		addr = config.DefaultAdminAddress
	}
	creds := insecure.NewCredentials()
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--ca %s: no PEM certificate", f.caFile)
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: f.serverSNI}
		if f.cert != "" || f.key != "" {
			c, err := tls.LoadX509KeyPair(f.cert, f.key)
			if err != nil {
				return nil, nil, fmt.Errorf("--cert/--key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, nil, err
	}
	return adminv1.NewAdminServiceClient(conn), func() { conn.Close() }, nil
}

// withToken adds the admin token to ctx's outgoing metadata, when there is one.
func (f *adminFlags) withToken(ctx context.Context) (context.Context, error) {
	tok := os.Getenv(config.DefaultAdminTokenEnv)
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, err
		}
		tok = string(b)
	}
	if tok = strings.TrimSpace(tok); tok == "" {
		return ctx, nil
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

// adminCommand runs one admin command: parse its flags with more, dial,
// then call do with a context bounded by --timeout (follow: until
// interrupted).
func adminCommand(name string, args []string, stdout, stderr io.Writer, more func(*flag.FlagSet),
	do func(ctx context.Context, f *adminFlags, c adminv1.AdminServiceClient, fs *flag.FlagSet) error, follow *bool) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f adminFlags
	f.register(fs)
	if more != nil {
		more(fs)
	}
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	c, closeConn, err := f.dial()
	if err != nil {
		fmt.Fprintf(stderr, "llm-failover %s: %v\n", name, err)
		return 1
	}
	defer closeConn()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if follow == nil || !*follow {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	if err := do(ctx, &f, c, fs); err != nil {
		if errors.Is(err, errUsage) {
			fs.Usage()
			return 2
		}
		if s, ok := status.FromError(err); ok {
			err = fmt.Errorf("%s: %s", s.Code(), s.Message())
		}
		fmt.Fprintf(stderr, "llm-failover %s: %v\n", name, err)
		return 1
	}
	return 0
}

// errUsage makes adminCommand print the usage and exit 2.
var errUsage = errors.New("usage")

// printJSON prints m as one line of JSON with proto field names.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// statusCmd: llm-failover status.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	return adminCommand("status", args, stdout, stderr, nil, func(ctx context.Context, f *adminFlags, c adminv1.AdminServiceClient, _ *flag.FlagSet) error {
		resp, err := c.GetStatus(ctx, &adminv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(stdout, resp)
		}
		writeStatusText(stdout, resp)
		return nil
	}, nil)
}

// stateName is the short name of a breaker state.
func stateName(s adminv1.BreakerState) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "BREAKER_STATE_")), "_", "-")
}

func targetName(t *adminv1.Target) string {
	if t == nil {
		return ""
	}
	return t.GetProvider() + "/" + t.GetModel()
}

// writeStatusText prints the chains, their targets in order and why each
// open breaker opened.
func writeStatusText(w io.Writer, r *adminv1.GetStatusResponse) {
	fmt.Fprintf(w, "%d ext_proc streams in flight\n", r.GetStreams())
	for _, ch := range r.GetChains() {
		fmt.Fprintf(w, "chain %s", ch.GetName())
		if len(ch.GetModels()) > 0 {
			fmt.Fprintf(w, " (models: %s)", strings.Join(ch.GetModels(), ", "))
		}
		if ch.GetName() == r.GetDefaultChain() {
			fmt.Fprint(w, " (default)")
		}
		fmt.Fprintln(w)
		for i, t := range ch.GetTargets() {
			line := fmt.Sprintf("  %d. %-36s %-10s share %3.0f%%", i+1, targetName(t.GetTarget()), stateName(t.GetState()), t.GetTrafficShare()*100)
			if t.GetCooldownLeft() != nil {
				line += fmt.Sprintf("  cooldown %s", t.GetCooldownLeft().AsDuration().Round(time.Second))
			}
			if t.GetRecoveryStage() > 0 {
				line += fmt.Sprintf("  stage %d/%d", t.GetRecoveryStage(), t.GetRecoveryStages())
			}
			if t.GetReason() != "" {
				line += "  reason: " + openedText(t)
			}
			fmt.Fprintln(w, line)
		}
	}
}

// openedText is why a breaker opened with what tripped it.
func openedText(t *adminv1.TargetStatus) string {
	var what []string
	if n := t.GetOpenedFailures(); n > 0 {
		what = append(what, fmt.Sprintf("%d failures", n))
	}
	if s := t.GetOpenedStatus(); s > 0 {
		what = append(what, fmt.Sprintf("HTTP %d", s))
	}
	if d := t.GetOpenedDetail(); d != "" {
		what = append(what, d)
	}
	if len(what) == 0 {
		return t.GetReason()
	}
	return t.GetReason() + " (" + strings.Join(what, ", ") + ")"
}

// eventsCmd: llm-failover events [--follow] [--kind K,...].
func eventsCmd(args []string, stdout, stderr io.Writer) int {
	var follow bool
	var kinds string
	return adminCommand("events", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&follow, "follow", false, "after the recent events, stream new ones until interrupted")
		fs.StringVar(&kinds, "kind", "", "only these kinds, comma-separated (failover, breaker_transition, policy_denial, config_reload, probe, ...)")
	}, func(ctx context.Context, f *adminFlags, c adminv1.AdminServiceClient, _ *flag.FlagSet) error {
		req := &adminv1.WatchEventsRequest{History: true, HistoryOnly: !follow}
		if kinds != "" {
			req.Kinds = strings.Split(kinds, ",")
		}
		stream, err := c.WatchEvents(ctx, req)
		if err != nil {
			return err
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) || follow && ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			if f.json {
				err = printJSON(stdout, resp.GetEvent())
			} else {
				_, err = fmt.Fprintln(stdout, eventText(resp.GetEvent()))
			}
			if err != nil {
				return err
			}
		}
	}, &follow)
}

// eventText is one event on one line.
func eventText(e *adminv1.Event) string {
	parts := []string{e.GetTime().AsTime().Format(time.RFC3339Nano), e.GetKind()}
	if e.GetFrom() != nil {
		parts = append(parts, targetName(e.GetFrom()))
	}
	if e.GetTo() != nil {
		parts = append(parts, "-> "+targetName(e.GetTo()))
	}
	if e.GetBreakerFrom() != "" || e.GetBreakerTo() != "" {
		parts = append(parts, e.GetBreakerFrom()+" -> "+e.GetBreakerTo())
	}
	for _, kv := range []struct{ k, v string }{{"reason", e.GetReason()}, {"detail", e.GetDetail()}, {"chain", e.GetChain()}, {"request", e.GetRequestId()}, {"client", e.GetClient()}} {
		if kv.v != "" {
			parts = append(parts, kv.k+"="+fmt.Sprintf("%q", kv.v))
		}
	}
	if e.GetStatus() != 0 {
		parts = append(parts, fmt.Sprintf("status=%d", e.GetStatus()))
	}
	if e.GetFailures() != 0 {
		parts = append(parts, fmt.Sprintf("failures=%d", e.GetFailures()))
	}
	if e.GetStage() != 0 {
		parts = append(parts, fmt.Sprintf("stage=%d", e.GetStage()))
	}
	if e.GetAddedLatencyMs() != 0 {
		parts = append(parts, fmt.Sprintf("added=%dms", e.GetAddedLatencyMs()))
	}
	if e.GetCooldownUntil() != nil {
		parts = append(parts, "until="+e.GetCooldownUntil().AsTime().Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// explainCmd: llm-failover explain --model M [--chain C] [--tools] [--json-mode] [--vision] [--prompt-tokens N].
func explainCmd(args []string, stdout, stderr io.Writer) int {
	var model, chain string
	var tools, jsonMode, vision bool
	var promptTokens int
	return adminCommand("explain", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&model, "model", "", "the request's model")
		fs.StringVar(&chain, "chain", "", "the request's "+contract.HeaderChain+" header")
		fs.BoolVar(&tools, "tools", false, "the request has tools")
		fs.BoolVar(&jsonMode, "json-mode", false, "the request asks for JSON output (response_format)")
		fs.BoolVar(&vision, "vision", false, "the request has images")
		fs.IntVar(&promptTokens, "prompt-tokens", 0, "estimated prompt tokens (0: unknown)")
	}, func(ctx context.Context, f *adminFlags, c adminv1.AdminServiceClient, _ *flag.FlagSet) error {
		if model == "" && chain == "" {
			return errUsage
		}
		req := &adminv1.ExplainPlanRequest{Model: model, Tools: tools, Json: jsonMode, Vision: vision, PromptTokens: int32(min(max(promptTokens, 0), 1<<30))}
		if chain != "" {
			req.Headers = map[string]string{contract.HeaderChain: chain}
		}
		resp, err := c.ExplainPlan(ctx, req)
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(stdout, resp)
		}
		fmt.Fprintf(stdout, "chain %s\n", resp.GetChain())
		if resp.GetError() != "" {
			fmt.Fprintf(stdout, "refused: %s\n", resp.GetError())
		}
		for i, s := range resp.GetSteps() {
			fmt.Fprintf(stdout, "  attempt %d: %s (%s)\n", i+1, targetName(s.GetTarget()), s.GetReason())
		}
		if n := resp.GetSameTargetRetries(); n > 0 {
			fmt.Fprintf(stdout, "  then %d more on the last\n", n)
		}
		for _, v := range resp.GetTargets() {
			if !v.GetIncluded() {
				fmt.Fprintf(stdout, "  left out: %s: %s\n", targetName(v.GetTarget()), v.GetReason())
			}
		}
		return nil
	}, nil)
}

// tripCmd: llm-failover trip [--for D] [--reason R] PROVIDER/MODEL.
func tripCmd(args []string, stdout, stderr io.Writer) int {
	var d time.Duration
	var reason string
	return adminCommand("trip", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&d, "for", 0, "cooldown (default: breaker.open_for)")
		fs.StringVar(&reason, "reason", "", "why, recorded with the transition")
	}, func(ctx context.Context, f *adminFlags, c adminv1.AdminServiceClient, fs *flag.FlagSet) error {
		if fs.NArg() != 1 {
			return errUsage
		}
		ctx, err := f.withToken(ctx)
		if err != nil {
			return err
		}
		req := &adminv1.TripBreakerRequest{Target: fs.Arg(0), Reason: reason}
		if d > 0 {
			req.Duration = durationpb.New(d)
		}
		resp, err := c.TripBreaker(ctx, req)
		if err != nil {
			return err
		}
		return printTarget(stdout, f, resp.GetTarget())
	}, nil)
}

// resetCmd: llm-failover reset [--reason R] PROVIDER/MODEL.
func resetCmd(args []string, stdout, stderr io.Writer) int {
	var reason string
	return adminCommand("reset", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&reason, "reason", "", "why, recorded with the transition")
	}, func(ctx context.Context, f *adminFlags, c adminv1.AdminServiceClient, fs *flag.FlagSet) error {
		if fs.NArg() != 1 {
			return errUsage
		}
		ctx, err := f.withToken(ctx)
		if err != nil {
			return err
		}
		resp, err := c.ResetBreaker(ctx, &adminv1.ResetBreakerRequest{Target: fs.Arg(0), Reason: reason})
		if err != nil {
			return err
		}
		return printTarget(stdout, f, resp.GetTarget())
	}, nil)
}

func printTarget(w io.Writer, f *adminFlags, t *adminv1.TargetStatus) error {
	if f.json {
		return printJSON(w, t)
	}
	line := targetName(t.GetTarget()) + " " + stateName(t.GetState())
	if t.GetCooldownLeft() != nil {
		line += " for " + t.GetCooldownLeft().AsDuration().Round(time.Second).String()
	}
	if t.GetReason() != "" {
		line += ": " + t.GetReason()
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
