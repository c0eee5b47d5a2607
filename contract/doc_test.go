package contract

import (
	"os"
	"strings"
	"testing"
)

// TestEnvoyContractDoc_SpellsEveryName verifies docs/envoy-contract.md
// writes each name of this package as the code spells it, so the page and
// the code cannot drift apart.
func TestEnvoyContractDoc_SpellsEveryName(t *testing.T) {
	b, err := os.ReadFile("../docs/envoy-contract.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{
		PhaseHeader + ": " + PhaseRoute, PhaseHeader + ": " + PhaseAttempt,
		"name: " + RetryHeader + `, string_match: {exact: "` + RetryValue + `"}`,
		HeaderProvider, HeaderModel, HeaderAttempt, HeaderTrace, HeaderChain,
		HeaderMaxRetries + ": ", HeaderPerTryTimeout + ": ",
		strings.ReplaceAll(PerRequestBoundsHeaders, "|", `\|`), // in a table cell
		"(default `" + DefaultNamespace + "`)", "`" + PlanNamespace("NS") + "`", "`" + JWTNamespace + "`",
		"{" + EndpointNamespace + ": {" + EndpointProviderKey + ": <name>}}",
		`attributes["` + AttrNamespace + `"]`,
		"request_attributes: [" + strings.Join(AttemptAttributes("NS"), ", ") + "]",
		"request_attributes: [" + strings.Join(ClientAttributes(), ", ") + "]",
		"details `" + DetailsPrefix + "<code>`",
		`{"` + keyPriorityGroups + `": [{"` + keyGroupName + `": "` + GroupName(0) + `", "` + keyGroupClusters +
			`": [{"` + keyClusterName + `": "<cluster>", "` + keyClusterWeight + `": 1}]}`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/envoy-contract.md does not write %q", want)
		}
	}
	for _, key := range []string{keyVersion, keyID, keyGen, keyPerTryMS, keyChain, keyModel, keyStream, keyIncludeUsage,
		keyExtra, keyTargets, keyExp, keySig, keyClient, keyAPI,
		keyTargetProvider, keyTargetCluster, keyTargetModel, keyTargetContextWindow} {
		if !strings.Contains(doc, `"`+key+`"`) && !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("docs/envoy-contract.md does not name the plan key %q", key)
		}
	}
}
