package config_test

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
)

// TestAudit_Defaults verifies an absent audit section gets the events
// package's defaults and no file.
func TestAudit_Defaults(t *testing.T) {
	c, err := config.Parse([]byte(clientsBase))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Audit{MaxSizeMB: 100, MaxBackups: 10, MaxAgeDays: 30, FileBuffer: 4096, History: 512, SubscriberBuffer: 256, MaxSubscribers: 64}
	if c.Audit != want {
		t.Errorf("audit = %+v, want %+v", c.Audit, want)
	}
	if o := c.Audit.BusOptions(); o.History != events.DefaultHistory || o.Buffer != events.DefaultBuffer || o.MaxSubscribers != events.DefaultMaxSubscribers {
		t.Errorf("BusOptions() = %+v, want the events defaults", o)
	}
	c, err = config.Parse([]byte(clientsBase + "audit: {file: /var/log/llm-failover/audit.jsonl, max_size_mb: 5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Audit.FileOptions(); o.Path != "/var/log/llm-failover/audit.jsonl" || o.MaxSizeMB != 5 || o.MaxBackups != 10 || o.Buffer != 4096 {
		t.Errorf("FileOptions() = %+v, want the file, 5 MB, defaults otherwise", o)
	}
}

// TestAudit_ValidateReportsEveryBound verifies each out-of-range field is
// reported with its path, all in one error.
func TestAudit_ValidateReportsEveryBound(t *testing.T) {
	_, err := config.Parse([]byte(clientsBase + "audit: {file: \"a\\0b\", max_size_mb: 10241, max_backups: -1, max_age_days: 3651, " +
		"file_buffer: 100001, history: -5, subscriber_buffer: 100001, max_subscribers: 10001}\n"))
	if err == nil {
		t.Fatal("Parse: no error, want one per field")
	}
	for _, path := range []string{"audit.file:", "audit.max_size_mb:", "audit.max_backups:", "audit.max_age_days:",
		"audit.file_buffer:", "audit.history:", "audit.subscriber_buffer:", "audit.max_subscribers:"} {
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q: no %s", err, path)
		}
	}
}
