package fastlua

// The README's snippets, kept honest: every Lua block compiles as a script (a block whose fence
// says "lua fragment" is exempt) and the answer example runs as it says; the quoted runtime
// error is the real one; the Go blocks parse, never defer a call past log.Fatal, and the first
// one builds; an absolute-URL platform.api call says it needs AllowedHosts; a curl line with
// braces in its URL has -g (curl reads them as globs otherwise).

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeBlock is a fenced block of README.md.
type readmeBlock struct {
	info string // the fence's info string: "lua", "go", "sh", "lua fragment"
	line int    // of the first line of the content
	text string
}

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	var lines []string
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &readmeBlock{info: strings.TrimSpace(strings.TrimPrefix(l, "```")), line: i + 2}
			lines = lines[:0]
		case cur != nil && strings.TrimSpace(l) == "```":
			cur.text = strings.Join(lines, "\n") + "\n"
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			lines = append(lines, l)
		}
	}
	if cur != nil {
		t.Fatalf("README.md: the block opened at line %d is not closed", cur.line-1)
	}
	return blocks
}

// absoluteCall finds a platform.api call to an absolute URL; its group is the host.
var absoluteCall = regexp.MustCompile(`platform\.api\.\w+\(\s*"https?://([^/:"]+)`)

func TestReadmeLuaSnippetsCompile(t *testing.T) {
	n := 0
	for _, b := range readmeBlocks(t) {
		if b.info != "lua" {
			continue
		}
		n++
		_, err := New(Config{Scripts: []Script{{Name: "readme.get.pre_process", Source: b.text}}})
		if err != nil {
			var ce *CompileError
			if errors.As(err, &ce) {
				t.Errorf("README.md:%d: the Lua block does not compile (mark it ```lua fragment if it is not a script): %v", b.line, err)
			} else {
				t.Errorf("README.md:%d: %v", b.line, err)
			}
		}
		lines := strings.Split(b.text, "\n")
		for i, l := range lines {
			if m := absoluteCall.FindStringSubmatch(l); m != nil {
				prev := ""
				if i > 0 {
					prev = lines[i-1]
				}
				if near := prev + l; !strings.Contains(near, "AllowedHosts") || !strings.Contains(near, strconv.Quote(m[1])) {
					t.Errorf("README.md:%d: an absolute-URL platform.api call must say which Config.AllowedHosts it needs (%q): without it the call raises an error", b.line+i, m[1])
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no ```lua block found in README.md")
	}
}

// The answer example (the first block that raises "Name field is required") runs as its
// comments say.
func TestReadmeAnswerExampleRuns(t *testing.T) {
	var src string
	for _, b := range readmeBlocks(t) {
		if b.info == "lua" && src == "" && strings.Contains(b.text, `error({ status_code = 400, message = "Name field is required" })`) {
			src = b.text
		}
	}
	if src == "" {
		t.Fatal("README.md: the answer example is gone")
	}
	ts := serve(t, Config{Scripts: []Script{{Name: "shop.post.pre_process", Source: src}}}, (&echo{}).handle)
	r := ts.do("POST", "/shop", `{"price":3}`)
	sunday := r.status == 403 && strings.Contains(r.body, "closed on Sundays")
	if !sunday && (r.status != 400 || r.body != `{"error":{"code":400,"message":"Name field is required"}}`) {
		t.Errorf("without a name: %d %s", r.status, r.body)
	}
	r = ts.do("POST", "/shop", `{"name":"tea"}`)
	if !sunday && (r.status != 201 || r.headers["x-made-by"] != "lua" || r.body != `{"created":true}`) {
		t.Errorf("with a name: %d %v %s", r.status, r.headers, r.body)
	}
}

// The runtime error the README quotes is the one a script gets.
func TestReadmeQuotedRuntimeError(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`(script ([a-z_.]+)\\.get\\.pre_process, line (\\d+): attempt to index ([^`]*with key '(\\w+)'))`").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md quotes no runtime error of the form `script NAME.get.pre_process, line N: attempt to index ... with key 'K'`")
	}
	quoted, service, key := string(m[1]), string(m[2]), string(m[5])
	line, _ := strconv.Atoi(string(m[3]))
	// A script that indexes a nil value on the quoted line.
	src := strings.Repeat("local a\n", line-1) + "return a." + key + "\n"
	ts := serve(t, Config{Scripts: []Script{{Name: service + ".get.pre_process", Source: src}}}, (&echo{}).handle)
	r := ts.do("GET", "/"+strings.ReplaceAll(service, ".", "/"), "")
	if got := r.errorMessage(t); r.status != 500 || got != quoted {
		t.Errorf("README.md quotes %q; the real message is %q (%d)", quoted, got, r.status)
	}
}

// The Go blocks parse; none defers a call before a log.Fatal (which exits without running it);
// the first, "Use it from Go", builds as a program's main.
func TestReadmeGoSnippets(t *testing.T) {
	first := ""
	for _, b := range readmeBlocks(t) {
		if b.info != "go" {
			continue
		}
		if first == "" {
			first = b.text
		}
		// Statements (a function's body), or else declarations.
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "snippet.go", "package p\nfunc _() {\n"+b.text+"}\n", 0)
		if err != nil {
			var err2 error
			if f, err2 = parser.ParseFile(fset, "snippet.go", "package p\n\n"+b.text, 0); err2 != nil {
				t.Errorf("README.md:%d: the Go block parses neither as statements (%v) nor as declarations (%v)", b.line, err, err2)
				continue
			}
		}
		deferred := 0
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false // a closure's statements are its own
			case *ast.DeferStmt:
				deferred = fset.Position(n.Pos()).Line
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && deferred > 0 {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "log" && strings.HasPrefix(sel.Sel.Name, "Fatal") {
						t.Errorf("README.md:%d: log.%s after the defer of line %d: the deferred call never runs",
							b.line+fset.Position(n.Pos()).Line-3, sel.Sel.Name, b.line+deferred-3)
					}
				}
			}
			return true
		})
	}
	if first == "" {
		t.Fatal("no ```go block in README.md")
	}
	if testing.Short() {
		t.Skip("builds a program: not with -short")
	}
	imports := map[string]string{"context.": "context", "log.": "log", "os.": "os", "signal.": "os/signal",
		"syscall.": "syscall", "time.": "time", "fasthttp.": "github.com/valyala/fasthttp", "fastlua.": "github.com/fastlua/fastlua"}
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	for prefix, path := range imports {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(prefix)).MatchString(first) {
			fmt.Fprintf(&src, "\t%q\n", path)
		}
	}
	src.WriteString(")\n\nvar handler fasthttp.RequestHandler = func(*fasthttp.RequestCtx) {}\n\nfunc main() {\n" + first + "}\n")
	dir, err := os.MkdirTemp(".", "readme-snippet-") // inside the module, so its imports resolve
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("README.md: the first Go block does not build as a main function: %v\n%s\n%s", err, out, src.String())
	}
}

// A curl line whose URL holds braces needs -g (--globoff): curl reads {a,b} as a glob.
func TestReadmeCurlBraces(t *testing.T) {
	for _, b := range readmeBlocks(t) {
		if b.info != "sh" {
			continue
		}
		for i, l := range strings.Split(b.text, "\n") {
			fields := strings.Fields(l)
			if len(fields) == 0 || fields[0] != "curl" {
				continue
			}
			hasG, braces := false, false
			for j, f := range fields {
				if f == "-g" || f == "--globoff" {
					hasG = true
				}
				if j > 0 && fields[j-1] == "-d" || strings.HasPrefix(f, "'") || strings.HasPrefix(f, "#") {
					break // the body and what follows are not the URL
				}
				if strings.ContainsAny(f, "{}") {
					braces = true
				}
			}
			if braces && !hasG {
				t.Errorf("README.md:%d: a curl URL with braces needs -g: %s", b.line+i, l)
			}
		}
	}
}
