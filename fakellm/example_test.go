package fakellm_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/llm-failover/llm-failover/fakellm"
)

// Example starts a fake provider on a loopback port, fails its first
// request with a 429 and answers the second.
func Example() {
	rs, err := fakellm.Start(fakellm.Options{Name: "openai"})
	if err != nil {
		panic(err)
	}
	defer rs.Close()
	rs.SetFaults(fakellm.Schedule{Faults: []fakellm.Fault{{Status: 429, RetryAfter: "2"}}})

	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, rs.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o"}`))
		req.Header.Set("Authorization", "Bearer sk-test-0123456789")
		resp, err := c.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), len(body) > 0)
	}
	rec := rs.Requests()[1]
	fmt.Println(rs.Count(), rec.Header.Get("Authorization"), rec.KeySHA256["authorization"] == fakellm.KeyHash("sk-test-0123456789"))
	// Output:
	// 429 2 true
	// 200  true
	// 2 Bearer sk-t… true
}
