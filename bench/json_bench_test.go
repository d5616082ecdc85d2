package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
)

// records returns a {"resource":[...]} document of n user records of about 200 bytes each, with
// the two fields a field-level-security script removes (ssn and salary).
func records(n int) string {
	var sb strings.Builder
	sb.WriteString(`{"resource":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"first_name":"User%d","last_name":"Example","email":"user%d@example.com","ssn":"078-05-%04d","salary":%d,"active":%t,"tags":["a","b"],"address":{"city":"London","zip":"W1"}}`,
			i, i, i, i%10000, 40000+i*13, i%3 != 0)
	}
	sb.WriteString(`],"meta":{"count":`)
	fmt.Fprintf(&sb, "%d", n)
	sb.WriteString(`}}`)
	return sb.String()
}

// DreamFactory's field-level-security example, in Lua: remove two fields from every record of a
// table's response.
const fieldSecurityScript = `local records = event.response.content.resource
if records then
  for _, record in ipairs(records) do
    record.ssn = nil
    record.salary = nil
  end
end`

// fieldSecurityGo is the same in Go, as a handler that knows nothing of the schema would write it.
func fieldSecurityGo(body []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if rs, ok := doc["resource"].([]any); ok {
		for _, r := range rs {
			if m, ok := r.(map[string]any); ok {
				delete(m, "ssn")
				delete(m, "salary")
			}
		}
	}
	return json.Marshal(doc)
}

// A 100-record (~20 KB) response through the field-level-security script, against the same done in
// Go with encoding/json in the same run: compare the two sub-benchmarks' ns/op.
func BenchmarkPostProcessJSONRecords(b *testing.B) {
	doc := records(100)
	answer := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(doc)
	}
	for _, sc := range []struct{ name, source string }{
		{"script", fieldSecurityScript},
		// The same with pairs over the records, as DreamFactory's examples often write it.
		{"script-pairs", strings.ReplaceAll(fieldSecurityScript, "ipairs", "pairs")},
		// Each record's fields walked with pairs: every record is decoded whole (the full-decode
		// path of the lazy body).
		{"script-fields", `for _, record in ipairs(event.response.content.resource) do
  for k in pairs(record) do
    if k == "ssn" or k == "salary" then record[k] = nil end
  end
end`},
	} {
		b.Run(sc.name, func(b *testing.B) {
			h := newMiddleware(b, fastlua.Script{Name: "bench.users.get.post_process", Source: sc.source}).Wrap(answer)
			ctx := newCtx("GET", "/api/v2/bench/users")
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				h(ctx)
			}
			if body := ctx.Response.Body(); bytes.Contains(body, []byte(`"ssn"`)) || !bytes.Contains(body, []byte(`"first_name":"User99"`)) {
				b.Fatalf("body %.200s", body)
			}
		})
	}
	b.Run("go-encoding-json", func(b *testing.B) {
		ctx := newCtx("GET", "/api/v2/bench/users")
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			answer(ctx)
			out, err := fieldSecurityGo(ctx.Response.Body())
			if err != nil {
				b.Fatal(err)
			}
			ctx.Response.SetBodyRaw(out)
		}
		if bytes.Contains(ctx.Response.Body(), []byte(`"ssn"`)) {
			b.Fatal("ssn left")
		}
	})
}

// A 1 MB response of which the script changes one top-level field, against decoding and
// re-encoding the whole document with encoding/json: the script's work should grow with what it
// touches, not with the document.
func BenchmarkPostProcessJSONLarge(b *testing.B) {
	n := 1000
	for len(records(n)) < 1<<20 {
		n += 500
	}
	doc := records(n)
	answer := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(doc)
	}
	b.Run("script", func(b *testing.B) {
		h := newMiddleware(b, fastlua.Script{Name: "bench.big.get.post_process",
			Source: `event.response.content.status = "checked"`}).Wrap(answer)
		ctx := newCtx("GET", "/api/v2/bench/big")
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			h(ctx)
		}
		if !bytes.Contains(ctx.Response.Body(), []byte(`"status":"checked"`)) {
			b.Fatalf("body %.200s", ctx.Response.Body())
		}
	})
	b.Run("go-encoding-json", func(b *testing.B) {
		ctx := newCtx("GET", "/api/v2/bench/big")
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			answer(ctx)
			var v map[string]any
			if err := json.Unmarshal(ctx.Response.Body(), &v); err != nil {
				b.Fatal(err)
			}
			v["status"] = "checked"
			out, err := json.Marshal(v)
			if err != nil {
				b.Fatal(err)
			}
			ctx.Response.SetBodyRaw(out)
		}
	})
}
