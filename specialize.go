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
// the register it reads (the intermediate values are dead) and no jump lands inside it.

const (
	opShift = 26
	aShift  = 18
)

func opcode(inst uint32) int { return int(inst >> opShift) }
func argA(inst uint32) int   { return int(inst>>aShift) & 0xff }
func argB(inst uint32) int   { return int(inst & 0x1ff) }
func argC(inst uint32) int   { return int(inst>>9) & 0x1ff }
func argBx(inst uint32) int  { return int(inst & 0x3ffff) }
func argSbx(inst uint32) int { return argBx(inst) - (1<<17 - 1) }

const rkBit = 1 << 8 // an RK operand with this bit names a constant

func loadK(a, bx int) uint32 {
	return uint32(lua.OP_LOADK)<<opShift | uint32(a)<<aShift | uint32(bx)
}

var nop = uint32(lua.OP_NOP) << opShift

// levelObjects are the values a level's code may load directly: "event", "event.request",
// "event.request.headers", ..., "platform".
type levelObjects map[string]lua.LValue

// specialize returns a copy of p (and of the functions it defines) with the chains that read
// objs folded into constants, or p itself when there is nothing to fold.
func specialize(p *lua.FunctionProto, objs levelObjects) *lua.FunctionProto {
	var code []uint32
	var consts []lua.LValue
	constIndex := map[string]int{}
	constant := func(name string) int {
		if i, ok := constIndex[name]; ok {
			return i
		}
		consts = append(consts, objs[name])
		constIndex[name] = len(consts) - 1
		return len(consts) - 1
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
		if global != "event" && global != "platform" {
			continue
		}
		a := argA(inst)
		name := string(global)
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
			if _, known := objs[name+"."+string(key)]; !known {
				break
			}
			name += "." + string(key)
			end++
		}
		if code == nil {
			code = append([]uint32(nil), p.Code...)
			consts = append([]lua.LValue(nil), p.Constants...)
		}
		code[pc] = loadK(a, constant(name))
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
