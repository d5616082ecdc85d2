package fastlua

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// Compiling: Lua source to a gopher-lua proto, once per distinct source (an LRU keyed by the
// source's hash), with the main chunk's vararg table switched off and `..` made bounded
// (concat.go); CompileError carries the line and column.

// chunkName is the source name compiled into every proto. Protos are shared between scripts
// with the same source, so the script's own name is put into messages when they are reported
// (see scriptErrorFrom), not compiled in.
const chunkName = "script"

// CompileError reports a script that does not compile. A script with a compile error is never
// installed; the version already running (if any) stays.
type CompileError struct {
	Script  string // the script's name (its pattern)
	File    string // the file it was read from, if any
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based; 0 when unknown
	Message string
	Err     error // the underlying error (a *PatternError for a file's name), if any
}

// Unwrap returns the underlying error.
func (e *CompileError) Unwrap() error { return e.Err }

// Error returns the error's text.
func (e *CompileError) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "fastlua: %s does not compile: ", e.File)
	} else {
		fmt.Fprintf(&b, "fastlua: script %s does not compile: ", e.Script)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// compiler turns Lua source into function prototypes. Protos are read-only once built and are
// shared by every state; identical sources share one proto through an LRU cache keyed by the
// source's SHA-256.
type compiler struct {
	cache   *lru.Cache[[sha256.Size]byte, *lua.FunctionProto]
	maxSize int
}

func newCompiler(cacheSize, maxSource int) *compiler {
	c, err := lru.New[[sha256.Size]byte, *lua.FunctionProto](cacheSize)
	if err != nil {
		panic(err) // only for a size <= 0, which Config defaults rule out
	}
	return &compiler{cache: c, maxSize: maxSource}
}

// compile returns the proto for source, compiling it unless an identical source was compiled
// before. name is used in errors only.
func (c *compiler) compile(name, source string) (*lua.FunctionProto, error) {
	if len(source) > c.maxSize {
		return nil, &CompileError{Script: name, Message: fmt.Sprintf("the source is %d bytes, more than the limit of %d (Config.MaxScriptSize)", len(source), c.maxSize)}
	}
	key := sha256.Sum256([]byte(source))
	if p, ok := c.cache.Get(key); ok {
		return p, nil
	}
	p, err := compileSource(name, source)
	if err != nil {
		return nil, err
	}
	c.cache.Add(key, p)
	return p, nil
}

func compileSource(name, source string) (proto *lua.FunctionProto, err error) {
	defer func() {
		// The parser and compiler report errors by panicking; anything they did not catch
		// themselves must not take the process down.
		if r := recover(); r != nil {
			proto, err = nil, &CompileError{Script: name, Message: fmt.Sprint(r)}
		}
	}()
	chunk, err := parse.Parse(strings.NewReader(source), chunkName)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			ce := &CompileError{Script: name, Line: pe.Pos.Line, Column: pe.Pos.Column, Message: pe.Message}
			if pe.Pos.Line == parse.EOF {
				ce.Line, ce.Column = strings.Count(source, "\n")+1, 0
				ce.Message += " at the end of the script"
			} else if pe.Token != "" {
				ce.Message += fmt.Sprintf(" near '%s'", pe.Token)
			}
			return nil, ce
		}
		return nil, &CompileError{Script: name, Message: err.Error()}
	}
	if line, ok := astWithin(chunk, maxNesting); !ok {
		return nil, &CompileError{Script: name, Line: line,
			Message: fmt.Sprintf("expressions or blocks nested deeper than %d (split the expression)", maxNesting)}
	}
	boundConcats(chunk) // `..` becomes a call of a function that bounds its result (concat.go)
	proto, err = lua.Compile(chunk, chunkName)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, &CompileError{Script: name, Line: ce.Line, Message: ce.Message}
		}
		return nil, &CompileError{Script: name, Message: err.Error()}
	}
	if hasConcatOp(proto) {
		return nil, &CompileError{Script: name, Message: errUnboundedConcat}
	}
	// A main chunk is a vararg function, and gopher-lua builds an `arg` table on every call of
	// one unless told the chunk never names it. In a main chunk `arg` is an ordinary global (the
	// compiler declares the local only for nested functions), so the table can never be read:
	// clearing the flag removes ~1 µs and 8 allocations from every run.
	proto.IsVarArg &^= lua.VarArgNeedsArg
	keepKeysBoxed(proto)
	return proto, nil
}

// keepKeysBoxed rewrites GETTABLEKS and SETTABLEKS (t.name with a constant string key) to
// GETTABLE and SETTABLE, in every function of a proto. The pairs have the same operands and
// meaning; the KS forms pass the key to the VM as a Go string, which gopher-lua boxes again
// (an allocation) whenever it calls an __index or __newindex function with it. The plain forms
// pass the constant, boxed once at compile time. For the bridge's objects, whose fields are
// read through __index functions, this removes an allocation from every field access.
func keepKeysBoxed(p *lua.FunctionProto) {
	for i, inst := range p.Code {
		switch opcode(inst) {
		case lua.OP_GETTABLEKS:
			p.Code[i] = withOpcode(inst, lua.OP_GETTABLE)
		case lua.OP_SETTABLEKS:
			p.Code[i] = withOpcode(inst, lua.OP_SETTABLE)
		}
	}
	for _, child := range p.FunctionPrototypes {
		keepKeysBoxed(child)
	}
}

// straightLine reports whether a main chunk is short and runs each instruction at most once:
// at most 64 instructions, 8 of them calls, no backward jump (every loop, goto and repeat has
// one) and no function of its own (which could recurse, or be called by a metamethod or pcall).
// Its cost is then a few builtin calls, each bounded by the sandbox's caps, so it needs no time
// check between instructions: it runs on gopher-lua's plain loop (see state.run), and its time
// limit is still armed for the platform calls it makes and checked when it ends.
//
// Concatenation is allowed: every chain is a call of concat (compileSource rewrites it), so it
// counts against the 8 calls, and each builds at most Config.MaxStringSize bytes; the __concat
// metamethods it may call can only be builtins here (the chunk defines no function), one per
// operand at most. OP_CONCAT itself, which joins without a cap, no longer appears in a compiled
// script; should it, the chunk is not straight-line.
func straightLine(p *lua.FunctionProto) bool {
	const maxCode, maxCalls = 64, 8
	if len(p.FunctionPrototypes) > 0 || len(p.Code) > maxCode {
		return false
	}
	calls := 0
	for _, inst := range p.Code {
		switch opcode(inst) {
		case lua.OP_FORLOOP, lua.OP_TFORLOOP, lua.OP_CLOSURE, lua.OP_CONCAT:
			return false
		case lua.OP_CALL, lua.OP_TAILCALL, lua.OP_SELF:
			if calls++; calls > maxCalls {
				return false
			}
		case lua.OP_JMP:
			if argSbx(inst) < 0 {
				return false
			}
		}
	}
	return true
}

// maxNesting bounds how deeply expressions and statements nest in a script's syntax tree. The
// compiler is recursive over the tree, with a cost that grows with its depth: a long chain of
// operators ("a+a+...", "not not ...") would take minutes, or overflow the Go stack, which no
// recover catches.
const maxNesting = 1000

// astWithin walks a syntax tree without recursion and reports whether no expression or
// statement is nested deeper than limit; if one is, it returns its line.
func astWithin(chunk []ast.Stmt, limit int) (line int, ok bool) {
	type item struct {
		v     reflect.Value
		depth int
	}
	stack := []item{{reflect.ValueOf(chunk), 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		v, depth := it.v, it.depth
		switch v.Kind() {
		case reflect.Interface:
			if v.IsNil() {
				continue
			}
			if n, isNode := v.Interface().(ast.PositionHolder); isNode {
				if depth++; depth > limit {
					return n.Line(), false
				}
			}
			stack = append(stack, item{v.Elem(), depth})
		case reflect.Pointer:
			if !v.IsNil() {
				stack = append(stack, item{v.Elem(), depth})
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					stack = append(stack, item{v.Field(i), depth})
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				stack = append(stack, item{v.Index(i), depth})
			}
		}
	}
	return 0, true
}
