package fakellm

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzStructured verifies reading a request's output and tools never
// panics, and the JSON made for any schema is JSON.
func FuzzStructured(f *testing.F) {
	for _, seed := range []string{
		`{"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{"$ref":"#/$defs/x"}}}}}}`,
		`{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"array","minItems":3,"maxItems":1,"items":{"anyOf":[{"type":"null"}]}}}}],"tool_choice":{"function":{"name":"g"}}}`,
		`{"output_format":{"type":"json_schema","schema":{"type":["null","string"],"minLength":5,"maxLength":2}}}`,
		`{"generationConfig":{"responseSchema":{"type":"OBJECT","properties":{"n":{"type":"INTEGER","minimum":1e300}}}}}`,
		`{"tools":[{"functionDeclarations":[{"name":"f","parameters":{"allOf":[{"properties":{"a":{"const":1}}}]}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, shape := range []Shape{ShapeOpenAI, ShapeAnthropic, ShapeGemini} {
			o := parseOutput(shape, []byte(body))
			for _, b := range [][]byte{exampleJSON(o.schema), exampleJSON(o.tool.params)} {
				if !json.Valid(b) {
					t.Fatalf("%s: not JSON: %s", shape, b)
				}
			}
		}
	})
}

// TestExampleJSON_Bounded verifies hostile schemas (huge or negative
// bounds, explosive nesting) give a small answer, not a huge one or a
// panic.
func TestExampleJSON_Bounded(t *testing.T) {
	for _, schema := range []string{
		`{"type":"array","minItems":1000000000,"items":{"type":"string"}}`,
		`{"type":"array","maxItems":-1}`,
		`{"type":"string","minLength":1000000000}`,
		`{"type":"string","maxLength":-1}`,
		`{"$ref":"#/$defs/a","$defs":{"a":{"type":"array","minItems":100,"items":{"$ref":"#/$defs/a"}}}}`,
	} {
		b := exampleJSON(gjson.Parse(schema))
		if !json.Valid(b) || len(b) > 1<<20 {
			t.Errorf("%s: %d bytes, valid %v", schema, len(b), json.Valid(b))
		}
	}
}
