package fastlua

import (
	lua "github.com/yuin/gopher-lua"
)

// Bytecode specialization.
//
// In gopher-lua, reading `event.request.headers` is three instructions (GETGLOBAL, GETTABLE,
// GETTABLE) costing about 120 ns, a third of a trivial script. At one nesting level of one state
// the objects are always the same: `event` and `platform` are read-only globals, and the event's
// sub-objects cannot be replaced. So each level runs its own copy of a script's prototypes in
// which such a chain is one LOADK of the object (the other instructions become NOPs, so jump
// offsets and line numbers stay as they were). A chain is folded only when every step writes
// the register it reads (the intermediate values are dead) and no jump lands inside it. The
// global "(concat)", which every `..` chain calls (concat.go), is loaded the same way: it is
// the state's bounded concatenation, and no global of that name exists.
//
// A chain that ends on one of the event's key/value objects and is followed by a read or a
// write of a constant key (`event.request.headers["x-id"]`, `... = v`) goes one step further:
// the object's __index or __newindex costs a metatable lookup and a nested VM loop, so the
// chain and the access become a CALL of a Go function bound to the object and the key (see
// bridge.Event.FieldFunc), in the instructions they took. The call uses the chain's register
// and the one above it. The one above is free: the chain's register was the first free one
// when the chain began, and no local can be declared between the chain and the access that
// follows it. The chain's register itself may be a local (`local h = event.request.headers`
// then `h["x"]`): the rewrite is made only when the access overwrites it or the code after
// the access provably never reads it again (see deadAfter).

// levelObjects are what a level's specialized code may use directly.
type levelObjects struct {
	// values are the objects: "event", "event.request", "event.request.headers", ...,
	// "platform", and the concatenation function under concatName.
	values map[string]lua.LValue
	// field returns a Go function doing obj[key] (set false) or obj[key] = v (set true), or nil
	// when obj has none; nil itself when there are no such functions.
	field func(obj, key string, set bool) lua.LValue
}

// specialize returns a copy of p (and of the functions it defines) with the chains that read
// objs folded into constants, or p itself when there is nothing to fold.
func specialize(p *lua.FunctionProto, objs levelObjects) *lua.FunctionProto {
	var code []uint32
	var consts []lua.LValue
	constIndex := map[lua.LValue]int{}
	constant := func(v lua.LValue) int {
		if i, ok := constIndex[v]; ok {
			return i
		}
		consts = append(consts, v)
		constIndex[v] = len(consts) - 1
		return len(consts) - 1
	}
	own := func() { // copy the code before the first change
		if code == nil {
			code = append([]uint32(nil), p.Code...)
			consts = append([]lua.LValue(nil), p.Constants...)
		}
	}
	targets := jumpTargets(p.Code)
	for pc := 0; pc < len(p.Code); pc++ {
		inst := p.Code[pc]
		if opcode(inst) == lua.OP_SETLIST && argC(inst) == 0 {
			pc++ // the next word is SETLIST's operand, not an instruction
			continue
		}
		if opcode(inst) != lua.OP_GETGLOBAL {
			continue
		}
		global, _ := p.Constants[argBx(inst)].(lua.LString)
		if global != "event" && global != "platform" && global != concatName {
			continue
		}
		a := argA(inst)
		name := string(global)
		if global == concatName {
			// The function every `..` chain calls (concat.go); the global itself is not defined.
			if fn, ok := objs.values[concatName]; ok {
				own()
				code[pc] = loadK(a, constant(fn))
			}
			continue
		}
		own()
		end := pc // the last instruction of the chain
		for end+1 < len(p.Code) && !targets[end+1] {
			next := p.Code[end+1]
			if opcode(next) != lua.OP_GETTABLE || argA(next) != a || argB(next) != a || argC(next)&rkBit == 0 {
				break
			}
			key, ok := p.Constants[argC(next)&^rkBit].(lua.LString)
			if !ok {
				break
			}
			if _, known := objs.values[name+"."+string(key)]; !known {
				break
			}
			name += "." + string(key)
			end++
		}
		if last, ok := fieldCall(p, targets, code, pc, end, name, objs, constant); ok {
			pc = last
			continue
		}
		code[pc] = loadK(a, constant(objs.values[name]))
		for i := pc + 1; i <= end; i++ {
			code[i] = nop
		}
		pc = end
	}
	var children []*lua.FunctionProto
	for i, child := range p.FunctionPrototypes {
		if sc := specialize(child, objs); sc != child {
			if children == nil {
				children = append([]*lua.FunctionProto(nil), p.FunctionPrototypes...)
			}
			children[i] = sc
		}
	}
	if code == nil && children == nil {
		return p
	}
	cp := *p
	if code != nil {
		cp.Code, cp.Constants = code, consts
	}
	if children != nil {
		cp.FunctionPrototypes = children
	}
	return &cp
}

// fieldCall rewrites a chain, code[first..end] loading the object name into register a, and
// the read or write of a constant key that follows it, into a call of the object's bound Go
// function (see the top of the file). It reports the last instruction it rewrote, and false
// when the access is not one it rewrites.
//
//	obj[k] into R(x):  LOADK a fn; CALL a 1 2; MOVE x a (when x != a)
//	obj[k] = v:        LOADK a fn; LOADK a+1 v or MOVE a+1 v; CALL a 2 1
//
// The remaining instructions of the span become NOPs.
func fieldCall(p *lua.FunctionProto, targets []bool, code []uint32, first, end int, name string,
	objs levelObjects, constant func(lua.LValue) int) (last int, ok bool) {
	if objs.field == nil || end+1 >= len(p.Code) || targets[end+1] {
		return 0, false
	}
	a := argA(p.Code[first])
	keyAt := func(rk int) (string, bool) {
		if rk&rkBit == 0 {
			return "", false
		}
		k, ok := p.Constants[rk&^rkBit].(lua.LString)
		return string(k), ok
	}
	// The instructions after the function's LOADK, and which function.
	var rest []uint32
	var key string
	set := false
	switch inst := p.Code[end+1]; opcode(inst) {
	case lua.OP_GETTABLE: // R(x) := R(a)[K]
		k, isKey := keyAt(argC(inst))
		x := argA(inst)
		if argB(inst) != a || !isKey || (x != a && !deadAfter(p.Code, end+2, a)) {
			return 0, false
		}
		key, last = k, end+1
		rest = append(rest, abc(lua.OP_CALL, a, 1, 2))
		if x != a {
			rest = append(rest, abc(lua.OP_MOVE, x, a, 0))
		}
	case lua.OP_LOADK, lua.OP_SETTABLE: // [R(a+1) := K;] R(a)[RK(b)] := RK(c)
		st, isKey := inst, false
		last = end + 1
		if opcode(inst) == lua.OP_LOADK {
			// The key, loaded into the register above the object, then used by a SETTABLE.
			k, isStr := p.Constants[argBx(inst)].(lua.LString)
			if argA(inst) != a+1 || !isStr || end+2 >= len(p.Code) || targets[end+2] {
				return 0, false
			}
			st, last = p.Code[end+2], end+2
			if opcode(st) != lua.OP_SETTABLE || argB(st) != a+1 {
				return 0, false
			}
			key, isKey = string(k), true
		} else {
			key, isKey = keyAt(argB(st))
		}
		if !isKey || argA(st) != a || !deadAfter(p.Code, last+1, a) {
			return 0, false
		}
		switch c := argC(st); {
		case c&rkBit != 0:
			rest = append(rest, loadK(a+1, c&^rkBit))
		case c != a && c != a+1:
			rest = append(rest, abc(lua.OP_MOVE, a+1, c, 0))
		default:
			return 0, false
		}
		rest = append(rest, abc(lua.OP_CALL, a, 2, 1))
		set = true
	default:
		return 0, false
	}
	if 1+len(rest) > last-first+1 {
		return 0, false
	}
	fn := objs.field(name, key, set)
	if fn == nil {
		return 0, false
	}
	code[first] = loadK(a, constant(fn))
	n := copy(code[first+1:], rest)
	for i := first + 1 + n; i <= last; i++ {
		code[i] = nop
	}
	return last, true
}

// deadAfter reports whether register r is certainly not read again once code[from] is
// reached: the straight-line code from there writes it before any read, or leaves the
// function without returning it. It answers false whenever it is not sure (a branch, a loop,
// a closure, an instruction it does not model).
func deadAfter(code []uint32, from, r int) bool {
	const maxScan = 16
	rk := func(x int) bool { return x&rkBit == 0 && x == r }
	for pc := from; pc < len(code) && pc < from+maxScan; pc++ {
		inst := code[pc]
		a, b, c := argA(inst), argB(inst), argC(inst)
		switch opcode(inst) {
		case lua.OP_NOP:
			continue
		case lua.OP_LOADK, lua.OP_GETGLOBAL, lua.OP_GETUPVAL, lua.OP_NEWTABLE:
			if a == r {
				return true
			}
		case lua.OP_LOADNIL:
			if a <= r && r <= b {
				return true
			}
		case lua.OP_MOVE, lua.OP_UNM, lua.OP_NOT, lua.OP_LEN:
			if b == r {
				return false
			}
			if a == r {
				return true
			}
		case lua.OP_GETTABLE, lua.OP_GETTABLEKS: // R(a) := R(b)[RK(c)]
			if b == r || rk(c) {
				return false
			}
			if a == r {
				return true
			}
		case lua.OP_ADD, lua.OP_SUB, lua.OP_MUL, lua.OP_DIV, lua.OP_MOD, lua.OP_POW: // R(a) := RK(b) op RK(c)
			if rk(b) || rk(c) {
				return false
			}
			if a == r {
				return true
			}
		case lua.OP_SETGLOBAL, lua.OP_SETUPVAL:
			if a == r {
				return false
			}
		case lua.OP_SETTABLE, lua.OP_SETTABLEKS:
			if a == r || rk(b) || rk(c) {
				return false
			}
		case lua.OP_RETURN: // returns R(a) .. R(a+b-2), or R(a) .. top when b is 0
			return r < a || (b != 0 && r > a+b-2)
		default:
			return false
		}
	}
	return false
}

// jumpTargets marks the instructions a jump or a skip can land on.
func jumpTargets(code []uint32) []bool {
	t := make([]bool, len(code)+2)
	for pc := 0; pc < len(code); pc++ {
		inst := code[pc]
		switch opcode(inst) {
		case lua.OP_JMP, lua.OP_FORLOOP, lua.OP_FORPREP:
			if target := pc + 1 + argSbx(inst); target >= 0 && target < len(t) {
				t[target] = true
			}
		case lua.OP_EQ, lua.OP_LT, lua.OP_LE, lua.OP_TEST, lua.OP_TESTSET, lua.OP_TFORLOOP:
			t[pc+2] = true
		case lua.OP_LOADBOOL:
			if argC(inst) != 0 {
				t[pc+2] = true
			}
		case lua.OP_SETLIST:
			if argC(inst) == 0 {
				pc++
			}
		}
	}
	return t[:len(code)]
}
