package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/llm-failover/llm-failover/access"
)

// maxKeyBytes bounds the key hash-key reads.
const maxKeyBytes = 4096

// hashKey prints the stored form of the API key read from stdin (one line;
// its line ending is not part of the key) for clients.list[].api_keys. The
// key is never taken as an argument: arguments are visible to other users
// of the machine and kept in shell histories.
func hashKey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		_, _ = io.WriteString(stderr, "llm-failover hash-key: reads the key on stdin and takes no arguments, e.g. printf %s \"$KEY\" | llm-failover hash-key\n")
		return 2
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxKeyBytes+1))
	if err != nil {
		fmt.Fprintf(stderr, "llm-failover hash-key: %v\n", err)
		return 1
	}
	key := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case len(b) > maxKeyBytes:
		fmt.Fprintf(stderr, "llm-failover hash-key: the key is longer than %d bytes\n", maxKeyBytes)
		return 1
	case key == "" || strings.ContainsAny(key, "\r\n"):
		fmt.Fprintln(stderr, "llm-failover hash-key: want one non-empty key on stdin")
		return 1
	case key != strings.TrimSpace(key):
		// HTTP drops white space around a header value (and the route phase
		// trims it): a client could never present this key.
		fmt.Fprintln(stderr, "llm-failover hash-key: the key starts or ends with white space, which no client can send in a header: remove it")
		return 1
	}
	fmt.Fprintln(stdout, access.HashKey(key))
	return 0
}
