package provider

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEmbeddings measures the embeddings hot paths on a batch of 16
// inputs of 1536 dimensions: the route phase's inspection, the Gemini
// request rewrite, and the Gemini answer's translation to float and base64.
func BenchmarkEmbeddings(b *testing.B) {
	inputs := make([]string, 16)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("%q", strings.Repeat("lorem ipsum ", 40))
	}
	body := []byte(`{"model":"text-embedding-3-small","input":[` + strings.Join(inputs, ",") + `]}`)
	vec := make([]string, 1536)
	for i := range vec {
		vec[i] = fmt.Sprintf("%.9f", float64(i%97)/97-0.5)
	}
	embs := make([]string, 16)
	for i := range embs {
		embs[i] = `{"values":[` + strings.Join(vec, ",") + `]}`
	}
	answer := []byte(`{"embeddings":[` + strings.Join(embs, ",") + `]}`)
	ep := targetFor("gemini").ep
	b.Run("inspect", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := InspectEmbeddings(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gemini-prepare", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := (geminiEmbed{}).Prepare(&ep, Request{Body: body, Model: "gemini-embedding-001"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, enc := range []string{"float", "base64"} {
		req := Request{Model: "gemini-embedding-001", Body: []byte(`{"input":[` + strings.Join(inputs, ",") + `],"encoding_format":"` + enc + `"}`)}
		b.Run("gemini-answer-"+enc, func(b *testing.B) {
			b.SetBytes(int64(len(answer)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (geminiEmbed{}).NewResponseTranslator(&ep, req, Env{}).Translate(answer, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
