package fastlua

import (
	lua "github.com/yuin/gopher-lua"
)

// Bytecode: the fields of a gopher-lua instruction word (opcode, A, B, C, Bx, sBx) and the few
// words fastlua writes, for the passes that read or rewrite compiled code (compiler.go,
// concat.go, specialize.go). gopher-lua keeps its own decoders unexported; these mirror them.

// An instruction is 6 bits of opcode, 8 of A, then 9 of C and 9 of B (or 18 of Bx).
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

// withOpcode returns inst with its opcode replaced by op, its operands unchanged.
func withOpcode(inst uint32, op int) uint32 {
	return inst&(1<<opShift-1) | uint32(op)<<opShift
}

func loadK(a, bx int) uint32 {
	return uint32(lua.OP_LOADK)<<opShift | uint32(a)<<aShift | uint32(bx)
}

func abc(op, a, b, c int) uint32 {
	return uint32(op)<<opShift | uint32(a)<<aShift | uint32(c)<<9 | uint32(b)
}

var nop = uint32(lua.OP_NOP) << opShift
