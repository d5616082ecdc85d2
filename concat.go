package fastlua

import (
	"reflect"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Bounded concatenation.
//
// In gopher-lua a chain `a .. b .. c` is one instruction (OP_CONCAT), which joins its operands
// without a cap and cannot be interrupted by the time limit: three lines from a string at the
// cap would allocate gigabytes. So the compiler rewrites every chain, in the syntax tree, into
// one call with all its operands, `(concat)(a, b, c)`, of a Go function that measures what it
// will build before it builds it (concat below). The chain's operands are evaluated as before,
// left to right into consecutive registers; the call takes the chain's line, so errors keep
// theirs.
//
// "(concat)" cannot be written in Lua: no local can take the name, and the compiler reads it as
// a global. The global is never defined: each level's specialized code (specialize.go) loads
// the state's function in its place, as it loads event and platform, and the sandbox refuses
// to assign the name (checkGlobalName). A script that reads `_G["(concat)"]` gets nil. A
// compiled script that still holds an OP_CONCAT is refused (hasConcatOp), so a chain the
// rewrite missed fails closed.
//
// Costs: a chain is a Go call, a few tens of nanoseconds more than the instruction; it builds
// its string in one allocation, and boxes it (gopher-lua's takes one allocation more for three
// operands or more, and formats numbers with fmt). It takes one register more than OP_CONCAT
// (the function's): at gopher-lua's limit a chain may have 199 operands, not 200.

// concatName is the global every rewritten chain calls.
const concatName = "(concat)"

// concatWhat names concatenation in the string limit's error.
const concatWhat = "concatenation (..)"

// boundConcats rewrites every concatenation chain in a syntax tree into a call of concatName.
// Like gopher-lua's compiler, it takes a chain along its right operands (`a .. (b .. c)` is
// one chain of three); a left operand that is itself a chain (`(a .. b) .. c`) becomes a call
// of its own. The walk has no recursion; astWithin has bounded the tree's depth already.
//
// A function that assigns its last parameter gets `local p = p` first (see shadowLastParam).
func boundConcats(chunk []ast.Stmt) {
	exprType := reflect.TypeFor[ast.Expr]()
	methods := map[*ast.FunctionExpr]bool{} // functions defined with `function t:m()`: self is a parameter
	stack := []reflect.Value{reflect.ValueOf(chunk)}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v.Kind() {
		case reflect.Interface:
			if v.IsNil() {
				continue
			}
			if c, ok := v.Interface().(*ast.StringConcatOpExpr); ok && v.Type() == exprType && v.CanSet() {
				v.Set(reflect.ValueOf(concatCall(c)))
			}
			stack = append(stack, v.Elem())
		case reflect.Pointer:
			if v.IsNil() {
				continue
			}
			switch n := v.Interface().(type) {
			case *ast.FuncDefStmt:
				if n.Name != nil && n.Name.Func == nil {
					methods[n.Func] = true
				}
			case *ast.FunctionExpr:
				shadowLastParam(n, methods[n])
			}
			stack = append(stack, v.Elem())
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					stack = append(stack, v.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				stack = append(stack, v.Index(i))
			}
		}
	}
}

// errUnboundedConcat is the compile error of a chain the rewrite missed (it cannot: every
// node of gopher-lua's tree is a pointer). The script is refused rather than run unbounded.
const errUnboundedConcat = "fastlua: internal error: a concatenation was left unbounded"

// hasConcatOp reports whether p, or a function it defines, still holds an OP_CONCAT.
func hasConcatOp(p *lua.FunctionProto) bool {
	for _, inst := range p.Code {
		if opcode(inst) == lua.OP_CONCAT {
			return true
		}
	}
	for _, child := range p.FunctionPrototypes {
		if hasConcatOp(child) {
			return true
		}
	}
	return false
}

// shadowLastParam puts `local p = p` at the start of a function that assigns its last
// parameter p (self, for a method without parameters), so that the assignments go to a local
// of its own. gopher-lua compiles a call whose value is assigned to the last parameter in
// place, in the parameter's register (compileFuncCallExpr, its check of NumParameters-1): the
// function is loaded over the parameter before the arguments are read, and the arguments over
// the locals above it. `a = (tostring(a))` fails so, and so would `a = a .. "x"` once it is a
// call. A local declared in the body is never in that register: the check never fires.
func shadowLastParam(f *ast.FunctionExpr, method bool) {
	if f.ParList == nil {
		return
	}
	last := "self"
	if n := len(f.ParList.Names); n > 0 {
		last = f.ParList.Names[n-1]
	} else if !method {
		return
	}
	if !assignsName(f.Stmts, last) {
		return
	}
	value := &ast.IdentExpr{Value: last}
	value.SetLine(f.Line())
	shadow := &ast.LocalAssignStmt{Names: []string{last}, Exprs: []ast.Expr{value}}
	shadow.SetLine(f.Line())
	shadow.SetLastLine(f.Line())
	f.Stmts = append([]ast.Stmt{shadow}, f.Stmts...)
}

// assignsName reports whether stmts, outside the functions they define, assign to the name
// (as `name = ...`, one of several targets or alone), whatever it refers to there.
func assignsName(stmts []ast.Stmt, name string) bool {
	stack := []reflect.Value{reflect.ValueOf(stmts)}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer:
			if v.IsNil() {
				continue
			}
			switch n := v.Interface().(type) {
			case *ast.FunctionExpr:
				continue // its own assignments are its own (or an upvalue's: no register of ours)
			case *ast.AssignStmt:
				for _, lhs := range n.Lhs {
					if id, ok := lhs.(*ast.IdentExpr); ok && id.Value == name {
						return true
					}
				}
			}
			stack = append(stack, v.Elem())
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					stack = append(stack, v.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				stack = append(stack, v.Index(i))
			}
		}
	}
	return false
}

// concatCall is the call a chain becomes. Each operand gives one value, as in the chain (a call
// or `...` as the last argument would give all of theirs), and so does the call (AdjustRet:
// `return a .. b` is no tail call, `f(a .. b)` passes one argument).
func concatCall(c *ast.StringConcatOpExpr) ast.Expr {
	args := []ast.Expr{c.Lhs}
	rhs := c.Rhs
	for {
		next, ok := rhs.(*ast.StringConcatOpExpr)
		if !ok {
			break
		}
		args = append(args, next.Lhs)
		rhs = next.Rhs
	}
	args = append(args, rhs)
	for _, a := range args {
		switch a := a.(type) {
		case *ast.FuncCallExpr:
			a.AdjustRet = true
		case *ast.Comma3Expr:
			a.AdjustRet = true
		}
	}
	fn := &ast.IdentExpr{Value: concatName}
	fn.SetLine(c.Line())
	fn.SetLastLine(c.LastLine())
	call := &ast.FuncCallExpr{Func: fn, Args: args, AdjustRet: true}
	call.SetLine(c.Line())
	call.SetLastLine(c.LastLine())
	return call
}

// concat is the function the rewritten chains call: gopher-lua's OP_CONCAT (stringConcat in its
// vm.go) over the arguments, with the same results, metamethods and messages, except that each
// string it builds is measured first and refused past Config.MaxStringSize.
//
// As in Lua 5.1 it works from the right: the strings and numbers at the right end of what is
// left are joined in one allocation (numbers written as tostring writes them); where an operand
// is neither, the __concat metamethod of the left operand of the pair, else of the right one, is
// called with the pair, and its result becomes the right operand.
func (st *state) concat(L *lua.LState) int {
	n := L.GetTop()
	if n == 2 { // the common case, two strings: no scan for a run, no length pass
		if a, ok := L.Get(1).(lua.LString); ok {
			if b, ok := L.Get(2).(lua.LString); ok {
				if len(a)+len(b) > st.m.cfg.MaxStringSize {
					st.raiseStringLimit(L, concatWhat, len(a)+len(b))
				}
				L.Push(a + b)
				return 1
			}
		}
	}
	if n == 0 { // never from a chain, which has two operands at least
		L.Push(lua.LNil)
		return 1
	}
	rhs := L.Get(n)
	for i := n - 1; i >= 1; {
		lhs := L.Get(i)
		if isText(lhs) && isText(rhs) {
			from := i
			for from > 1 && isText(L.Get(from-1)) {
				from--
			}
			rhs = st.join(L, from, i, rhs)
			i = from - 1
			continue
		}
		op := L.GetMetaField(lhs, "__concat")
		if op == lua.LNil {
			op = L.GetMetaField(rhs, "__concat")
		}
		if op.Type() != lua.LTFunction {
			L.RaiseError("cannot perform concat operation between %v and %v", lhs.Type().String(), rhs.Type().String())
		}
		L.Push(op)
		L.Push(lhs)
		L.Push(rhs)
		L.Call(2, 1)
		rhs = L.Get(-1)
		L.Pop(1)
		i--
	}
	L.Push(rhs)
	return 1
}

// isText reports whether v concatenates as text: a string or a number.
func isText(v lua.LValue) bool {
	switch v.(type) {
	case lua.LString, lua.LNumber:
		return true
	}
	return false
}

// join returns the text of arguments from..to followed by last's, all strings or numbers. Its
// length is summed first and refused past the string limit; then it is built in one allocation.
func (st *state) join(L *lua.LState, from, to int, last lua.LValue) lua.LValue {
	var num [32]byte
	size := func(v lua.LValue) int {
		if s, ok := v.(lua.LString); ok {
			return len(s)
		}
		return len(appendNumber(num[:0], v.(lua.LNumber)))
	}
	total := size(last)
	for k := from; k <= to; k++ {
		total += size(L.Get(k))
	}
	if total > st.m.cfg.MaxStringSize {
		st.raiseStringLimit(L, concatWhat, total)
	}
	if total == 0 {
		return lua.LString("")
	}
	b := make([]byte, 0, total)
	add := func(v lua.LValue) {
		if s, ok := v.(lua.LString); ok {
			b = append(b, s...)
		} else {
			b = appendNumber(b, v.(lua.LNumber))
		}
	}
	for k := from; k <= to; k++ {
		add(L.Get(k))
	}
	add(last)
	return lua.LString(unsafe.String(&b[0], len(b)))
}
