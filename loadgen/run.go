package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// Profile is what one request looks like to the ext_proc server: the
// filters Envoy runs it through and the messages' contents.
type Profile struct {
	// Name is "llm-failover" or "aigw" (or a caller's own).
	Name string
	// Route is the HTTP connection manager's ext_proc filter (the
	// downstream filter): it sees the request first and the response last.
	Route *Filter
	// Attempt is the provider cluster's upstream ext_proc filter, run
	// once per attempt after the router; nil when there is none.
	Attempt *Filter
	// Request is the request's headers as the HTTP connection manager
	// hands them to its filters; x-request-id is replaced per request by
	// a fresh UUID-shaped value, as the connection manager generates one.
	Request Headers
	// Body is the request body.
	Body []byte
	// Router changes the headers between the HCM filters and the upstream
	// filters as Envoy's router does (it consumes x-envoy-max-retries, adds
	// x-envoy-expected-rq-timeout-ms, rewrites :authority, ...).
	Router func(h *Headers)
	// ResponseHeaders and Chunks are the provider's answer: each chunk is
	// one response body message in STREAMED mode (one SSE event, or the
	// whole JSON body).
	ResponseHeaders Headers
	Chunks          [][]byte
}

// Options says how hard and how long to drive the server.
type Options struct {
	// Addr is the server's gRPC address (host:port, or unix:/path).
	Addr string
	// Concurrency is the number of requests in flight (default 16).
	Concurrency int
	// Conns is the number of HTTP/2 connections, as Envoy keeps one per
	// worker thread to a gRPC cluster (default 2, Envoy's worker count on
	// this 2-core machine).
	Conns int
	// Duration bounds the measured window; Requests, when set, ends it
	// after that many requests instead (whichever comes first).
	Duration time.Duration
	Requests int
	// Warmup runs before the measured window (zero: none).
	Warmup time.Duration
	// PID is the server's process (0: found from Addr's listening port);
	// negative: no CPU figures.
	PID int
	// MetricsURL is the server's Prometheus endpoint; when set, the Go
	// runtime's allocation counters are read before and after the window.
	MetricsURL string
	// PprofURL is the server's net/http/pprof base (.../debug/pprof); when
	// set, the runtime.MemStats of its heap profile give the allocation
	// counters (exact, unlike the profile's samples).
	PprofURL string
}

// Observed counts what the servers did to one request (or, summed, to all).
type Observed struct {
	Messages                int `json:"messages"`
	RequestHeaderMutations  int `json:"request_header_mutations"`
	ResponseHeaderMutations int `json:"response_header_mutations"`
	BodyMutations           int `json:"body_mutations"`
	MetadataNamespaces      int `json:"metadata_namespaces"`
	ModeOverrides           int `json:"mode_overrides"`
}

func (o *Observed) add(x Observed) {
	o.Messages += x.Messages
	o.RequestHeaderMutations += x.RequestHeaderMutations
	o.ResponseHeaderMutations += x.ResponseHeaderMutations
	o.BodyMutations += x.BodyMutations
	o.MetadataNamespaces += x.MetadataNamespaces
	o.ModeOverrides += x.ModeOverrides
}

// Sample is the last measured request as the client and the provider
// would have seen it.
type Sample struct {
	UpstreamHeaders Headers `json:"upstream_headers"`
	UpstreamBody    string  `json:"upstream_body"`
	ResponseHeaders Headers `json:"response_headers"`
	ResponseBody    string  `json:"response_body"`
}

// sample is the last request's pieces, turned into a Sample for the report.
type sample struct {
	upHeaders, respHeaders Headers
	upBody                 []byte
	chunks                 [][]byte
}

func (s *sample) export() *Sample {
	if s == nil {
		return nil
	}
	return &Sample{UpstreamHeaders: s.upHeaders, UpstreamBody: string(s.upBody), ResponseHeaders: s.respHeaders,
		ResponseBody: string(bytes.Join(s.chunks, nil))}
}

// one runs one request through the filters: the route filter's request
// path, the router, the attempt filter's request and response paths, the
// route filter's response path. Each filter's stream stays open until the
// request is done with it, as Envoy keeps it until the filter is destroyed.
func (p *Profile) one(ctx context.Context, cc *grpc.ClientConn, reqID string) (Observed, *sample, error) {
	req := &request{md: map[string]*structpb.Struct{}}
	h := p.Request.clone()
	h.set("x-request-id", reqID)
	body := p.Body
	rs, err := open(ctx, cc, p.Route, req)
	if err != nil {
		return req.obs, nil, err
	}
	defer rs.close()
	if err := rs.decode(&h, &body); err != nil {
		return req.obs, nil, err
	}
	if p.Router != nil {
		p.Router(&h)
	}
	rh := p.ResponseHeaders.clone()
	chunks := p.Chunks
	if p.Attempt != nil {
		as, err := open(ctx, cc, p.Attempt, req)
		if err != nil {
			return req.obs, nil, err
		}
		defer as.close()
		if err := as.decode(&h, &body); err != nil {
			return req.obs, nil, err
		}
		if chunks, err = as.encode(&rh, chunks); err != nil {
			return req.obs, nil, err
		}
		as.close()
	}
	if chunks, err = rs.encode(&rh, chunks); err != nil {
		return req.obs, nil, err
	}
	return req.obs, &sample{upHeaders: h, upBody: body, respHeaders: rh, chunks: chunks}, nil
}

// Run drives the server at opts.Addr with p and reports what it measured.
func Run(ctx context.Context, p *Profile, opts Options) (*Report, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Conns <= 0 {
		opts.Conns = 2
	}
	if opts.Duration <= 0 && opts.Requests <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Duration <= 0 {
		opts.Duration = 24 * time.Hour
	}
	if opts.Warmup < 0 {
		opts.Warmup = 0
	}
	pid := opts.PID
	if pid == 0 {
		var err error
		if pid, err = PIDListening(opts.Addr); err != nil {
			return nil, fmt.Errorf("server pid: %w (give -pid, or -pid -1 for no CPU figures)", err)
		}
	}
	conns := make([]*grpc.ClientConn, opts.Conns)
	for i := range conns {
		cc, err := dial(opts.Addr)
		if err != nil {
			return nil, err
		}
		defer cc.Close()
		conns[i] = cc
	}
	// One request first: a server that answers it wrongly fails the run
	// at once, with its error.
	if _, _, err := p.one(ctx, conns[0], requestID(0, 0)); err != nil {
		return nil, fmt.Errorf("first request: %w", err)
	}

	const (
		warming = iota
		measuring
		stopped
	)
	var phase atomic.Int32
	var measured atomic.Int64
	type result struct {
		lat    []time.Duration
		obs    Observed
		errs   map[string]int
		sample *sample
	}
	results := make([]result, opts.Concurrency)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[w]
			r.errs = map[string]int{}
			cc := conns[w%len(conns)]
			for seq := 1; ; seq++ {
				if phase.Load() == stopped || ctx.Err() != nil {
					return
				}
				start := time.Now()
				obs, sample, err := p.one(ctx, cc, requestID(w, seq))
				d := time.Since(start)
				if phase.Load() != measuring {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					r.errs[err.Error()]++
					continue
				}
				k := measured.Add(1)
				if opts.Requests > 0 && k > int64(opts.Requests) {
					continue // finished after the window closed
				}
				r.lat = append(r.lat, d)
				r.obs.add(obs)
				r.sample = sample
				if k == int64(opts.Requests) {
					close(done)
				}
			}
		}()
	}
	select {
	case <-time.After(opts.Warmup):
	case <-ctx.Done():
	}
	before, err := snapshot(pid, opts.MetricsURL, opts.PprofURL)
	if err != nil {
		phase.Store(stopped)
		cancel()
		wg.Wait()
		return nil, err
	}
	start := time.Now()
	phase.Store(measuring)
	select {
	case <-time.After(opts.Duration):
	case <-done:
	case <-ctx.Done():
	}
	phase.Store(stopped)
	elapsed := time.Since(start)
	after, err := snapshot(pid, opts.MetricsURL, opts.PprofURL)
	wg.Wait()
	if err != nil {
		return nil, err
	}

	rep := &Report{Profile: p.Name, Addr: opts.Addr, Concurrency: opts.Concurrency, Conns: opts.Conns,
		BodyBytes: len(p.Body), Chunks: len(p.Chunks), Seconds: elapsed.Seconds(), PID: pid, Errors: map[string]int{}}
	var all []time.Duration
	for _, r := range results {
		all = append(all, r.lat...)
		rep.Observed.add(r.obs)
		for k, v := range r.errs {
			rep.Errors[k] += v
			rep.Failed += v
		}
		if r.sample != nil {
			rep.Sample = r.sample.export()
		}
	}
	rep.Requests = len(all)
	rep.fill(all, before, after)
	if rep.Requests == 0 {
		return rep, errors.New("no request completed in the measured window")
	}
	return rep, nil
}

func dial(addr string) (*grpc.ClientConn, error) {
	target := "passthrough:///" + addr
	if len(addr) > 5 && addr[:5] == "unix:" {
		target = addr
	}
	// Envoy's gRPC client has no receive limit (envoy_grpc
	// max_receive_message_length 0) and opens HTTP/2 windows of 16 MiB per
	// stream and 24 MiB per connection (source/common/http/http_option_limits.h
	// OptionsLimits DEFAULT_INITIAL_STREAM_WINDOW_SIZE and
	// DEFAULT_INITIAL_CONNECTION_WINDOW_SIZE, 1.38 to 1.40).
	return grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(16<<20),
		grpc.WithInitialConnWindowSize(24<<20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
}

// requestID is shaped as the UUID the connection manager generates.
func requestID(worker, seq int) string {
	return fmt.Sprintf("%08x-%04x-4000-8000-%012x", worker, seq>>48&0xffff, seq&0xffffffffffff)
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func sortDurations(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }
