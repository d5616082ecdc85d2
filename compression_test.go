package fastlua

import (
	"bytes"
	"encoding/json"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// Compressed bodies through Wrap, with a real server and a client that asks for each coding:
// scripts (testdata/bodies/z.*) see them decoded, whether the compression is below the
// middleware or above it.

// codings are the Content-Encodings fasthttp compresses and decompresses.
var codings = []string{"gzip", "deflate", "br", "zstd"}

func compressAs(coding string, b []byte) []byte {
	switch coding {
	case "gzip":
		return fasthttp.AppendGzipBytes(nil, b)
	case "deflate":
		return fasthttp.AppendDeflateBytes(nil, b)
	case "br":
		return fasthttp.AppendBrotliBytes(nil, b)
	case "zstd":
		return fasthttp.AppendZstdBytes(nil, b)
	}
	panic("unknown coding " + coding)
}

func decompressAs(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var resp fasthttp.Response
	resp.Header.Set("Content-Encoding", coding)
	resp.SetBody(b)
	out, err := resp.BodyUncompressed()
	if err != nil {
		t.Fatalf("the %s body does not decompress: %v", coding, err)
	}
	return out
}

// zJSON and zText are large enough (more than 200 bytes) for fasthttp to compress them.
var (
	zJSON = func() []byte {
		var b strings.Builder
		b.WriteString(`{"items":[`)
		for i := 1; i <= 20; i++ {
			if i > 1 {
				b.WriteByte(',')
			}
			name := "item" + strconv.Itoa(i)
			if i == 1 {
				name = "first"
			}
			b.WriteString(`{"n":` + strconv.Itoa(i) + `,"name":"` + name + `"}`)
		}
		b.WriteString(`]}`)
		return []byte(b.String())
	}()
	zText = []byte(strings.Repeat("lorem ipsum dolor sit amet, ", 20) + "a needle in the haystack" + strings.Repeat(" consectetur", 20))
)

// zHandler answers the z service. Behind capture, it also keeps what it answered with (after
// the compression below the middleware, when there is one): the last body, and the path and
// Content-Encoding of each response.
type zHandler struct {
	recorder
	bomb   []byte
	sent   []byte
	traced []string
}

func (z *zHandler) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/z/json", "/z/api":
		ctx.SetContentType("application/json")
		ctx.SetBody(zJSON)
	case "/z/text":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBody(zText)
	case "/z/bomb", "/z/rawbomb":
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		ctx.SetBody(z.bomb)
	default:
		z.record(ctx)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	}
}

// capture keeps a copy of the response next produced, as it leaves next.
func (z *zHandler) capture(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		next(ctx)
		z.mu.Lock()
		z.sent = append(z.sent[:0], ctx.Response.Body()...)
		z.traced = append(z.traced, string(ctx.Path())+" "+string(ctx.Response.Header.ContentEncoding()))
		z.mu.Unlock()
	}
}

func (z *zHandler) lastSent() []byte {
	z.mu.Lock()
	defer z.mu.Unlock()
	return bytes.Clone(z.sent)
}

// trace returns the responses captured since the last call.
func (z *zHandler) trace() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	t := z.traced
	z.traced = nil
	return t
}

func compressHandler(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return fasthttp.CompressHandlerBrotliLevel(h, fasthttp.CompressBrotliDefaultCompression, fasthttp.CompressDefaultCompression)
}

// Scripts see the decoded body of compressed responses, whether the compression is below the
// middleware (mw.Wrap(CompressHandler(h))), above it (CompressHandler(mw.Wrap(h))) or both,
// for every coding a client asks for: a body a script only reads goes out as it was, byte for
// byte; a changed one goes out in the coding the client asked for, with the change.
func TestCompressedResponses(t *testing.T) {
	for _, place := range []string{"inside", "outside", "both sides of"} {
		z := &zHandler{}
		var ts *testServer
		cfg := Config{Scripts: scriptsFrom(t, "bodies")}
		inside := place != "outside"
		switch place {
		case "inside":
			ts = serve(t, cfg, z.capture(compressHandler(z.handle)))
		case "outside":
			ts = serveWrapped(t, cfg, z.capture(z.handle), compressHandler)
		default:
			ts = serveWrapped(t, cfg, z.capture(compressHandler(z.handle)), compressHandler)
		}
		for _, coding := range codings {
			t.Run(coding+" "+place+" Wrap", func(t *testing.T) {
				get := func(path string) (response, []byte) {
					t.Helper()
					r := ts.do("GET", path, "", "Accept-Encoding", coding)
					if r.status != 200 {
						t.Fatalf("GET %s: %d %s", path, r.status, r.body)
					}
					if r.headers["content-encoding"] != coding {
						t.Fatalf("GET %s: Content-Encoding %q, want %q", path, r.headers["content-encoding"], coding)
					}
					return r, decompressAs(t, coding, []byte(r.body))
				}
				r, plain := get("/z/json")
				if r.headers["x-first"] != "first" || !bytes.Equal(plain, zJSON) {
					t.Fatalf("read: x-first %q, body %s", r.headers["x-first"], plain)
				}
				if inside && r.body != string(z.lastSent()) {
					t.Fatal("a compressed body the script only read was not sent byte for byte")
				}
				r, plain = get("/z/json?change=1")
				var doc struct {
					Items []struct {
						N    int    `json:"n"`
						Name string `json:"name"`
					} `json:"items"`
				}
				if err := json.Unmarshal(plain, &doc); err != nil || len(doc.Items) != 20 || doc.Items[0].Name != "changed" || doc.Items[1].Name != "item2" {
					t.Fatalf("changed: %v %s", err, plain)
				}

				r, plain = get("/z/text")
				if r.headers["x-needle"] != strconv.Itoa(bytes.Index(zText, []byte("needle"))+1) || !bytes.Equal(plain, zText) {
					t.Fatalf("text read: x-needle %q, body %s", r.headers["x-needle"], plain)
				}
				if inside && r.body != string(z.lastSent()) {
					t.Fatal("a compressed text the script only read was not sent byte for byte")
				}
				_, plain = get("/z/text?change=1")
				if !bytes.Equal(plain, bytes.ToUpper(zText)) {
					t.Fatalf("text changed: %s", plain)
				}

				// platform.api results are decoded too, and returning one sends it correctly.
				z.trace()
				r = ts.do("GET", "/z/api", "", "Accept-Encoding", coding)
				if r.status != 200 || r.headers["x-api-first"] != "first" || r.headers["x-api-encoding"] != "nil" || r.headers["x-api-needle"] == "nil" {
					t.Fatalf("platform.api: %d %s %v", r.status, r.body, r.headers)
				}
				if tr := z.trace(); inside && !slices.Contains(tr, "/z/json "+coding) {
					t.Fatalf("the in-process call was not answered in %s: %v", coding, tr)
				}
				r = ts.do("GET", "/z/api?return=1", "", "Accept-Encoding", coding)
				plain = []byte(r.body)
				if ce := r.headers["content-encoding"]; ce != "" {
					plain = decompressAs(t, ce, plain)
				}
				if r.status != 200 || !bytes.Equal(plain, zJSON) {
					t.Fatalf("returning a platform.api result: %d %v %s", r.status, r.headers, plain)
				}
			})
		}
	}
}

// An outgoing platform.api call (to an allowed host that compresses its answers) gets the
// content decoded, for every coding.
func TestCompressedExternalAPI(t *testing.T) {
	up := &zHandler{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, &fasthttp.Server{Handler: up.capture(compressHandler(up.handle))}, ln)
	ts := serve(t, Config{Scripts: scriptsFrom(t, "bodies"), AllowedHosts: []string{"127.0.0.1"},
		PlatformConfig: map[string]any{"upstream": "http://" + ln.Addr().String()}}, (&zHandler{}).handle)
	for _, coding := range codings {
		r := ts.do("GET", "/z/ext?coding="+coding, "")
		if r.status != 200 || r.headers["x-api-first"] != "first" || r.headers["x-api-encoding"] != "nil" {
			t.Fatalf("%s: %d %s %v", coding, r.status, r.body, r.headers)
		}
		if tr := up.trace(); !slices.Equal(tr, []string{"/z/json " + coding}) {
			t.Fatalf("%s: the upstream answered %v", coding, tr)
		}
	}
}

// A client's compressed request body: scripts see it decoded; one they only read reaches the
// handler byte for byte, a changed one in the same coding, with Content-Length right.
func TestCompressedRequests(t *testing.T) {
	z := &zHandler{}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "bodies")}, z.handle)
	payload := []byte(`{"name":"ada","tags":["x","y"],"padding":"` + strings.Repeat("p", 300) + `"}`)
	for _, coding := range codings {
		t.Run(coding, func(t *testing.T) {
			sent := compressAs(coding, payload)
			r := ts.do("POST", "/z/echo", string(sent), "Content-Encoding", coding, "Content-Type", "application/json")
			body, ce, length, headers := z.last()
			if r.status != 200 || headers["x-name"] != "ada" || headers["x-content"] != strconv.Itoa(len(payload)) {
				t.Fatalf("read: %d %s %v", r.status, r.body, headers)
			}
			if !bytes.Equal(body, sent) || ce != coding || length != len(sent) {
				t.Fatalf("a compressed payload the script only read reached the handler changed (%q, %d bytes, Content-Length %d)", ce, len(body), length)
			}
			r = ts.do("POST", "/z/echo?change=1", string(sent), "Content-Encoding", coding, "Content-Type", "application/json")
			body, ce, length, _ = z.last()
			if r.status != 200 || ce != coding || length != len(body) {
				t.Fatalf("changed: %d %s, Content-Encoding %q, Content-Length %d for %d bytes", r.status, r.body, ce, length, len(body))
			}
			var doc map[string]any
			if err := json.Unmarshal(decompressAs(t, coding, body), &doc); err != nil || doc["name"] != "changed" || len(doc["padding"].(string)) != 300 {
				t.Fatalf("changed: %v %v", err, doc)
			}

			text := compressAs(coding, zText)
			r = ts.do("POST", "/z/rtext", string(text), "Content-Encoding", coding, "Content-Type", "text/plain")
			body, _, _, headers = z.last()
			if r.status != 200 || headers["x-needle"] != strconv.Itoa(bytes.Index(zText, []byte("needle"))+1) || !bytes.Equal(body, text) {
				t.Fatalf("text read: %d %s %v", r.status, r.body, headers)
			}
			r = ts.do("POST", "/z/rtext?change=1", string(text), "Content-Encoding", coding, "Content-Type", "text/plain")
			body, ce, length, _ = z.last()
			if r.status != 200 || ce != coding || length != len(body) || !bytes.Equal(decompressAs(t, coding, body), bytes.ToUpper(zText)) {
				t.Fatalf("text changed: %d %s, %q, %d for %d bytes", r.status, r.body, ce, length, len(body))
			}
		})
	}
	// A body that does not decode is an error naming the field and the coding, not garbage.
	r := ts.do("POST", "/z/echo", "not gzip at all", "Content-Encoding", "gzip", "Content-Type", "application/json")
	if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, "event.request.payload") || !strings.Contains(msg, "gzip") {
		t.Fatalf("a corrupt gzip body: %d %s", r.status, msg)
	}
	r = ts.do("POST", "/z/echo", `{"name":"x"}`, "Content-Encoding", "compress", "Content-Type", "application/json")
	if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, `"compress"`) {
		t.Fatalf("an unsupported coding: %d %s", r.status, msg)
	}
}

// gzipBomb is a gzip stream of about 1 MB that decompresses to size bytes of zeros: gzip
// members, each of 1 MiB, one after the other.
func gzipBomb(size int) []byte {
	member := fasthttp.AppendGzipBytesLevel(nil, make([]byte, 1<<20), fasthttp.CompressBestCompression)
	return bytes.Repeat(member, size>>20)
}

// A compressed body that decompresses past Config.MaxJSONSize fails the script with an error
// naming the limit, and the decompression stops there: a 1 KB-per-MiB bomb of a gigabyte
// allocates about the limit, not the gigabyte.
func TestDecompressionIsBounded(t *testing.T) {
	const limit = 1 << 20
	z := &zHandler{bomb: gzipBomb(1 << 30)}
	ts := serve(t, Config{MaxJSONSize: limit, Scripts: scriptsFrom(t, "bodies")}, z.handle)
	wantLimit := func(what string, r response) {
		t.Helper()
		msg := r.errorMessage(t)
		if r.status != 500 || !strings.Contains(msg, strconv.Itoa(limit)) || !strings.Contains(msg, "Config.MaxJSONSize") {
			t.Fatalf("%s: %d %q, want an error naming the limit", what, r.status, msg)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	wantLimit("a gzip bomb as the request payload", ts.do("POST", "/z/bomb", string(z.bomb), "Content-Encoding", "gzip", "Content-Type", "application/json"))
	wantLimit("a gzip bomb as the response content", ts.do("GET", "/z/bomb", ""))
	wantLimit("a gzip bomb as a platform.api result", ts.do("GET", "/z/bombapi", ""))
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 256<<20 {
		t.Errorf("three bombs of 1 GiB with a limit of 1 MiB allocated %d MiB", grown>>20)
	}
	if _, _, _, h := z.last(); h != nil {
		t.Error("the handler ran for a request whose pre_process script failed")
	}
	// Every coding is bounded.
	over := make([]byte, 2*limit)
	for _, coding := range codings {
		wantLimit(coding+" past the limit", ts.do("POST", "/z/bomb", string(compressAs(coding, over)), "Content-Encoding", coding, "Content-Type", "application/json"))
	}
}
