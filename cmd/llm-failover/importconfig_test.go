package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/processor"
)

const briefExample = "../../examples/brief.yaml"

// TestImportConfig_ConvertsTheBriefWithEveryDefault verifies import-config
// prints the brief's example in our shape with every default and a note
// per decision, and that what it prints loads to the same configuration as
// the brief file itself.
func TestImportConfig_ConvertsTheBriefWithEveryDefault(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"import-config", briefExample}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	for _, want := range []string{"# Imported from", `provider "google": gemini at generativelanguage.googleapis.com`, "max_attempts: 3",
		"retry_base_interval: 10ms", "grpc_address: 127.0.0.1:50051", "truncated_below: 0.5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	imported, err := config.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("the imported file does not load: %v", err)
	}
	direct, err := config.Load(briefExample)
	if err != nil {
		t.Fatalf("the brief file does not load: %v", err)
	}
	a, _ := json.Marshal(imported)
	b, _ := json.Marshal(direct)
	if !bytes.Equal(a, b) {
		t.Errorf("imported and direct configurations differ:\n%s\n%s", a, b)
	}
	// --out writes the same to a file.
	dst := filepath.Join(t.TempDir(), "ours.yaml")
	if code := run([]string{"import-config", "--out", dst, briefExample}, io.Discard, &errb); code != 0 {
		t.Fatalf("--out: exit %d", code)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, out.Bytes()) {
		t.Errorf("--out wrote something else than standard output")
	}
}

// TestImportConfig_RefusesWithEveryProblem verifies a brief file it cannot
// convert exits 1 listing each problem with its path, and a file in our
// own shape is refused with a pointer to check-config.
func TestImportConfig_RefusesWithEveryProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("fallback:\n  chains:\n    - name: c\n      models: [{provider: meta, model: llama}]\n      triggers: [{type: geo}]\n"), 0o600)
	var errb bytes.Buffer
	if code := run([]string{"import-config", bad}, io.Discard, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"fallback.chains[0].models[0].provider", "fallback.chains[0].triggers[0].type: geo", "2 problem(s)"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	errb.Reset()
	if code := run([]string{"import-config", "../../examples/config.yaml"}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "check-config") {
		t.Errorf("our own shape: exit %d, stderr %s; want 1 naming check-config", code, errb.String())
	}
}

// TestCheckConfig_AcceptsTheBriefShape verifies check-config reads the
// brief's file as it is and prints the effective configuration.
func TestCheckConfig_AcceptsTheBriefShape(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", briefExample}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "name: premium-reasoning") || !strings.Contains(out.String(), "provider: google") {
		t.Errorf("effective configuration lacks the brief's chains:\n%s", out.String())
	}
}

// TestServe_TheBriefShape verifies the server starts from the brief's file
// and serves its chains (the status page lists their targets).
func TestServe_TheBriefShape(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"} {
		t.Setenv(k, "sk-test-"+k)
	}
	b, err := os.ReadFile(briefExample)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "brief.yaml")
	os.WriteFile(path, append([]byte("server: {grpc_address: \"127.0.0.1:0\", admin_address: \"127.0.0.1:0\", drain_timeout: 2s}\n"), b...), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := processor.New(processor.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bound, done := startServer(ctx, cfg, srv, slog.New(slog.NewTextHandler(io.Discard, nil)), runOptions{})
	l := <-bound
	resp, err := http.Get("http://" + l.admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"openai/gpt-4-turbo", "anthropic/claude-3-opus", "google/gemini-pro", "openai/gpt-3.5-turbo", "anthropic/claude-instant", `"quality_answers":0,"quality_failures":0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/status lacks %q: %s", want, body)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("runServer did not return after cancel")
	}
	http.DefaultClient.CloseIdleConnections()
}
