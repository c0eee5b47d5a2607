package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/envoy"
)

// demoTimeout bounds the demo's start, each request and its stop.
const demoTimeout = 20 * time.Second

// TestDemo_ServesFailsOverAndStopsOnInterrupt runs `llm-failover demo` as
// a user would: it prints the front door, a chat answer comes from the
// primary, the banner's fault curl makes the next answer come from the
// secondary, the clear curl restores the fault-free primary, and SIGINT
// (Ctrl-C) stops everything with exit 0.
func TestDemo_ServesFailsOverAndStopsOnInterrupt(t *testing.T) {
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"demo"}, pw, io.Discard)
		pw.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	urls := map[string]string{}
	urlRE := regexp.MustCompile(`^  (front door|dashboard|primary)\b.*(http://127\.0\.0\.1:\d+)`)
	deadline := time.After(demoTimeout)
	for len(urls) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended before printing its URLs (exit %d)", <-code)
			}
			if m := urlRE.FindStringSubmatch(l); m != nil {
				urls[m[1]] = m[2]
			}
		case <-deadline:
			t.Fatalf("no URLs after %s; got %v", demoTimeout, urls)
		}
	}
	go func() { // the rest of the banner
		for range lines {
		}
	}()
	client := &http.Client{Timeout: demoTimeout, Transport: &http.Transport{}}
	ask := func() string {
		t.Helper()
		resp, err := client.Post(urls["front door"]+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"local","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || len(body.Choices) != 1 {
			t.Fatalf("status %d, body %+v, err %v", resp.StatusCode, body, err)
		}
		return body.Choices[0].Message.Content
	}
	if got := ask(); !strings.Contains(got, "primary") {
		t.Errorf("first answer %q, want it from the primary", got)
	}
	fault, _ := http.NewRequest(http.MethodPost, urls["primary"]+"/_fake/faults", strings.NewReader(`{"faults":[{"status":503,"times":-1}]}`))
	do(t, client, fault, http.StatusOK)
	if got := ask(); !strings.Contains(got, "secondary") {
		t.Errorf("answer with the primary failing %q, want it from the secondary", got)
	}
	// A tool call, answered by the Anthropic-format secondary and
	// translated: the client reads OpenAI tool_calls.
	toolReq, _ := http.NewRequest(http.MethodPost, urls["front door"]+"/v1/chat/completions", strings.NewReader(
		`{"model":"local","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`))
	resp, err := client.Do(toolReq)
	if err != nil {
		t.Fatal(err)
	}
	var tool struct {
		Choices []struct {
			Message struct {
				ToolCalls []struct {
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			}
			FinishReason string `json:"finish_reason"`
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&tool)
	resp.Body.Close()
	if err != nil || len(tool.Choices) != 1 || len(tool.Choices[0].Message.ToolCalls) != 1 ||
		tool.Choices[0].Message.ToolCalls[0].Function.Name != "get_weather" || tool.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("tool answer %+v (err %v), want one get_weather call", tool, err)
	} else if args := tool.Choices[0].Message.ToolCalls[0].Function.Arguments; args != `{"city":"example"}` {
		t.Errorf("tool arguments %s, want {\"city\":\"example\"}", args)
	}
	clear, _ := http.NewRequest(http.MethodDelete, urls["primary"]+"/_fake/faults", nil)
	do(t, client, clear, http.StatusNoContent)
	health, _ := http.NewRequest(http.MethodGet, urls["dashboard"]+"/healthz", nil)
	do(t, client, health, http.StatusOK)
	// The banner's status command reads the demo's admin API.
	var st, stErr strings.Builder
	if code := run([]string{"status", "--admin", strings.TrimPrefix(urls["dashboard"], "http://")}, &st, &stErr); code != 0 ||
		!strings.Contains(st.String(), "primary") || !strings.Contains(st.String(), "secondary") {
		t.Errorf("status: exit %d, stdout %q, stderr %q; want both providers", code, st.String(), stErr.String())
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d after SIGINT, want 0", c)
		}
	case <-time.After(demoTimeout):
		t.Fatal("demo still running after SIGINT")
	}
	if _, err := client.Get(urls["front door"] + "/v1/models"); err == nil {
		t.Error("the front door still answers after the demo stopped")
	}
	client.CloseIdleConnections()
}

// do sends req and fails t unless the answer has status want.
func do(t *testing.T, c *http.Client, req *http.Request, want int) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", req.Method, req.URL, resp.StatusCode, want)
	}
}

// TestDemo_EveryEnvoyVersion verifies the demo's front door answers on
// every Envoy version it can play and stops when its context ends.
func TestDemo_EveryEnvoyVersion(t *testing.T) {
	for _, v := range envoy.Versions() {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- runDemo(ctx, demoOptions{EnvoyVersion: v, Log: slog.New(slog.DiscardHandler)}, pw)
				pw.Close()
			}()
			sc := bufio.NewScanner(pr)
			front := ""
			for front == "" && sc.Scan() {
				if m := regexp.MustCompile(`front door .*(http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
					front = m[1]
				}
			}
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			if front == "" {
				cancel()
				t.Fatalf("no front door URL: %v", <-done)
			}
			client := &http.Client{Timeout: demoTimeout, Transport: &http.Transport{}}
			req, _ := http.NewRequest(http.MethodPost, front+"/v1/chat/completions",
				strings.NewReader(`{"model":"local","messages":[{"role":"user","content":"hi"}]}`))
			do(t, client, req, http.StatusOK)
			client.CloseIdleConnections()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("runDemo: %v", err)
				}
			case <-time.After(demoTimeout):
				t.Fatal("demo still running after its context ended")
			}
		})
	}
}
