package admin_test

import (
	"os"
	"regexp"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// TestDashboardScript_ReadsOnlyFieldsTheAPIHas verifies every snake_case
// field the dashboard's script reads is a field of the admin API's
// messages, so a renamed field fails here instead of leaving a blank
// column.
func TestDashboardScript_ReadsOnlyFieldsTheAPIHas(t *testing.T) {
	js, err := os.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	msgs := adminv1.File_llmfailover_admin_v1_admin_proto.Messages()
	for i := range msgs.Len() {
		addFields(fields, msgs.Get(i))
	}
	used := regexp.MustCompile(`\b[a-z]+(?:_[a-z0-9]+)+\b`).FindAllString(string(js), -1)
	if len(used) < 10 {
		t.Fatalf("found %d field names in app.js, want the dashboard's fields", len(used))
	}
	for _, f := range used {
		if !fields[f] {
			t.Errorf("app.js reads %q, which no admin API message has", f)
		}
	}
}

func addFields(into map[string]bool, m protoreflect.MessageDescriptor) {
	for i := range m.Fields().Len() {
		into[string(m.Fields().Get(i).Name())] = true
	}
}
