package fastlua

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// testObjects stands for a level's objects: each is a string naming it.
func testObjects() map[string]lua.LValue {
	return map[string]lua.LValue{
		"event": lua.LString("E"), "event.request": lua.LString("R"), "event.request.headers": lua.LString("H"),
		"event.response": lua.LString("S"), "event.response.headers": lua.LString("SH"),
		"event.request.parameters": lua.LString("P"), "platform": lua.LString("PL"),
	}
}

// compileSpecialized compiles src and specializes it for objs, failing the test if it changed
// the instruction count.
func compileSpecialized(t *testing.T, src string, objs levelObjects) (p, sp *lua.FunctionProto) {
	t.Helper()
	p, err := compileSource("t", src)
	if err != nil {
		t.Fatal(err)
	}
	sp = specialize(p, objs)
	if len(sp.Code) != len(p.Code) {
		t.Errorf("%s: the instruction count changed", src)
	}
	return p, sp
}

func TestSpecializeFolds(t *testing.T) {
	objs := levelObjects{values: testObjects()}
	cases := []struct {
		src   string
		loads []string // the objects loaded by LOADK, in order
		nops  int
	}{
		{`local h = event.request.headers`, []string{"H"}, 2},
		{`local h = event.request.method`, []string{"R"}, 1},
		{`local x = event.params.id`, []string{"E"}, 0},
		{`local e = event local r = e.request`, []string{"E"}, 0},
		{`local p = platform.api`, []string{"PL"}, 0},
		{`event.response.headers["x"] = "1"`, []string{"SH"}, 2},
		{`local event = {} local h = event.request`, nil, 0},
		{`local f = function() return event.request.headers end`, nil, 0}, // folded in the child
	}
	for _, c := range cases {
		_, sp := compileSpecialized(t, c.src, objs)
		var loads []string
		nops := 0
		for _, inst := range sp.Code {
			switch opcode(inst) {
			case lua.OP_LOADK:
				if s, ok := sp.Constants[argBx(inst)].(lua.LString); ok && s != "x" && s != "1" {
					loads = append(loads, string(s))
				}
			case lua.OP_NOP:
				nops++
			}
		}
		if len(loads) != len(c.loads) || nops != c.nops {
			t.Errorf("%s: loads %v, %d nops; want %v, %d", c.src, loads, nops, c.loads, c.nops)
			continue
		}
		for i := range loads {
			if loads[i] != c.loads[i] {
				t.Errorf("%s: loads %v, want %v", c.src, loads, c.loads)
			}
		}
	}
	// The child of the closure case is folded, its parent copied, the original untouched.
	p, _ := compileSource("t", `local f = function() return event.request.headers end`)
	sp := specialize(p, objs)
	if sp == p || sp.FunctionPrototypes[0] == p.FunctionPrototypes[0] || opcode(sp.FunctionPrototypes[0].Code[0]) != lua.OP_LOADK {
		t.Fatal("the closure's chain was not folded in a copy")
	}
	if opcode(p.FunctionPrototypes[0].Code[0]) != lua.OP_GETGLOBAL {
		t.Fatal("specialize changed the shared proto")
	}
}

func TestSpecializedScripts(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "specialize")}, h.handle)
	r := ts.do("GET", "/spec/x?flag=1", "", "X-In", "1")
	if r.status != 200 || r.headers["x-spec"] != "ok" || r.headers["x-branch"] != "then" {
		t.Fatalf("%d %s %v", r.status, r.body, r.headers)
	}
}

func TestSpecializeFieldCalls(t *testing.T) {
	objs := levelObjects{
		values: testObjects(),
		field: func(obj, key string, set bool) lua.LValue {
			if obj == "event.request" || obj == "event" || obj == "platform" {
				return nil
			}
			op := "get"
			if set {
				op = "set"
			}
			return lua.LString(op + " " + obj + "[" + key + "]")
		},
	}
	cases := []struct {
		src   string
		calls []string // the field functions called, in order
	}{
		{`local id = event.request.headers["x"]`, []string{"get event.request.headers[x]"}},
		{`local id if id == nil then event.request.headers["x"] = "g" end`, []string{"set event.request.headers[x]"}},
		{`event.response.headers["x-scripted"] = "1"`, []string{"set event.response.headers[x-scripted]"}},
		{`local a, b = 1, 2 b = event.request.headers.x`, []string{"get event.request.headers[x]"}},
		{`local f = event.request.parameters.flag`, []string{"get event.request.parameters[flag]"}},
		{`local v = 1 event.request.headers.x = v`, []string{"set event.request.headers[x]"}},
		// The chain's local is read again: it must keep the object.
		{`local h = event.request.headers local v = h["x"] h["y"] = 1`, nil},
		{`local h = event.request.headers h.x = 1 return h`, nil},
		{`local h = event.request.headers local v = h["x"] local n = #h`, nil},
		{`local h = event.request.headers local v = h["x"] local y = v .. "" h = nil`, nil}, // a call (the chain): not modelled
		{`local h = event.request.headers local v = h["x"] h = 1 return v`, []string{"get event.request.headers[x]"}},
		// ... or is never read again.
		{`local h = event.request.headers local v = h["x"]`, []string{"get event.request.headers[x]"}},
		// Not a constant key, a value computed in between, an object with no field functions.
		{`local k = "x" event.request.headers[k] = 1`, nil},
		{`event.request.headers.x = tostring(1)`, nil},
		{`local m = event.request.method`, nil},
		{`local n = event.request.headers[1]`, nil},
	}
	for _, c := range cases {
		_, sp := compileSpecialized(t, c.src, objs)
		var calls []string
		for pc, inst := range sp.Code {
			if opcode(inst) != lua.OP_LOADK {
				continue
			}
			s, ok := sp.Constants[argBx(inst)].(lua.LString)
			if !ok || (!strings.HasPrefix(string(s), "get ") && !strings.HasPrefix(string(s), "set ")) {
				continue
			}
			calls = append(calls, string(s))
			if next := sp.Code[pc+1]; opcode(next) != lua.OP_CALL && opcode(sp.Code[pc+2]) != lua.OP_CALL {
				t.Errorf("%s: %s is loaded but not called", c.src, s)
			}
		}
		if strings.Join(calls, ";") != strings.Join(c.calls, ";") {
			t.Errorf("%s: calls %q, want %q", c.src, calls, c.calls)
		}
	}
}
