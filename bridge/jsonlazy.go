package bridge

// The lazy JSON body: event.response.content, when the body is JSON, is decoded only as far as a
// script reads it, and written back by splicing what it changed into the original text.
//
// The text is validated once, by the decoder's own grammar (validateJSON), so a body the eager
// decoder refuses is still the string it was. Every JSON object of the text then becomes, when
// the value around it is decoded, a lazy object: a Lua table that is empty, whose metatable
// (lazyState.meta) has __index and __newindex functions that read the object's members from
// the text (through an index of their spans, made on the first lookup) and keep what a script
// writes in an overlay (edits), and a __pairs that materializes it. An array is decoded when
// the value around it is (a script must see its length), its objects lazy in turn. So a script
// that sets one field of a 1 MB document decodes one object's index and one value.
//
// A lazy object is materialized (its members decoded into the table itself, in the text's
// order, its overlay applied, its metatable removed) by anything that looks at a table's raw
// contents: pairs, next, rawget, rawset, getmetatable, setmetatable, the normal encoder
// (json.encode, platform.store, platform.api, log fields), asTable and tostring's rendering,
// and Go code that reads a script's table by its fields (a returned response, a table given
// to error(), platform.api's options).
// After that it is an ordinary table, as the eager decoder would have made it.
//
// After the script, sameLazy tells whether the value still describes the text (a lazy object
// at its own place is the same when each of its edits is), and if not, the encoder in verbatim
// mode writes the body: a lazy object as its text with its edits spliced in (members it did not
// touch copied, edited ones encoded, deleted ones left out, added ones after), everything else
// as the encoder always does. The output decodes to what the eager path's output decodes to;
// what the script did not touch keeps its bytes.
//
// The text must not change while a lazy object can read it: before the body is replaced, the
// documents that read it take a copy (detach). Bind and Unbind forget every lazy object: one
// kept past its run (it cannot be, but) raises an error instead of reading another body.

import (
	"errors"
	"slices"
	"strings"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// costLazyObject is what a lazy object costs besides its table, charged against the budget: its
// record, its registry entry and its share of the member index.
const costLazyObject = 96

// A run keeps at most maxLazyDocs lazily decoded texts (a script that replaces and reads the
// body again and again gets eager decodes past it, whose tables the GC takes when they are
// dropped), and copies of replaced texts for their lazy objects up to maxDetachedBytes in all:
// past it, a replaced text's lazy objects raise errLazyDropped instead of keeping it.
const (
	maxLazyDocs      = 64
	maxDetachedBytes = 64 << 20
)

// errLazyDocs is load's answer past maxLazyDocs: decode eagerly.
var errLazyDocs = errors.New("fastlua: too many lazily decoded JSON texts in one run")

// errLazyDropped is raised by a lazy object of a text that was replaced when maxDetachedBytes of
// copies were kept already.
var errLazyDropped = errors.New("fastlua: this table of a decoded JSON body belongs to a body the script replaced after 64 MiB of earlier bodies had been kept for their tables")

// errLazyGone is raised by a lazy object of an earlier run (or of a body that is gone).
var errLazyGone = errors.New("fastlua: this table of a decoded JSON body belongs to a body that is no longer there (an earlier run)")

type lazyState struct {
	L       *lua.LState
	in      *Interner
	meta    *lua.LTable
	objs    [][]lazyObj // in chunks of lazyChunk, so that a *lazyObj stays valid
	nobjs   int
	byTable map[*lua.LTable]int32
	members []lazyMember
	edits   []lazyEdit
	docs    []*lazyDoc
	ndocs   int
	next    *lua.LFunction // next for the tables __pairs materializes
	// detached is the bytes of replaced texts kept for their lazy objects in this run, of at
	// most maxDetached (maxDetachedBytes).
	detached    int
	maxDetached int
	scratch     decoder // for decoding keys that have escapes
}

// lazyDoc is one body text and what decoding it may still take.
type lazyDoc struct {
	text      []byte
	tape      []jsonSpan // the spans of its containers (scanJSON)
	own       []byte     // the copy text points into once detached
	detached  bool
	dropped   bool // detached past maxDetached: its lazy objects raise errLazyDropped
	field     string
	budget    int
	checkAt   int
	expansion int
	stop      func() error
	hasDup    bool // an object indexed so far has a key twice
}

type lazyObj struct {
	tb           *lua.LTable
	doc          *lazyDoc
	start, end   int // text[start:end] is the object, braces included
	depth        int
	memFirst     int32
	memN         int32
	editHead     int32 // the first edit, -1: none (a list through lazyEdit.next, in order)
	editTail     int32
	indexed      bool
	dup          bool // a key appears twice: the members before the last are shadowed
	materialized bool
	keyMap       map[string]int32 // for large objects: key -> member (the last occurrence)
	nedits       int32
	editMap      map[string]int32 // past editMapAt edits: key -> edit
}

type lazyMember struct {
	keyStart, keyEnd int // the key's text between its quotes
	valStart, valEnd int
	escaped          bool // the key's text is not its value (escapes, bytes past ASCII)
	shadowed         bool // a later member has the same key
}

type lazyEdit struct {
	key    string
	val    lua.LValue // nil: deleted
	cached bool       // a container read from the text, kept so that it stays the same table
	next   int32
}

const lazyChunk = 128

// keyMapAt is the member count from which an object's index gets a map, editMapAt the number
// of edits from which its edits do (a script that reads every member of a large object).
const (
	keyMapAt  = 24
	editMapAt = 16
)

func newLazyState(L *lua.LState, in *Interner) *lazyState {
	s := &lazyState{L: L, in: in, byTable: map[*lua.LTable]int32{}, maxDetached: maxDetachedBytes}
	mt := protectedMeta("json.object")
	mt.RawSetString("__index", L.NewFunction(s.index))
	mt.RawSetString("__newindex", L.NewFunction(s.newindex))
	mt.RawSetString("__pairs", L.NewFunction(s.pairs))
	mt.RawSetString("__lazy", &lua.LUserData{Value: s, Metatable: lua.LNil})
	s.meta = mt
	s.next = L.NewFunction(func(L *lua.LState) int {
		tb := L.CheckTable(1)
		k, v := tb.Next(L.Get(2))
		if k == lua.LNil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(k)
		L.Push(v)
		return 2
	})
	return s
}

// reset forgets every lazy object and document (Bind, Unbind).
func (s *lazyState) reset() {
	if s.nobjs == 0 && s.ndocs == 0 {
		return
	}
	for i := 0; i*lazyChunk < s.nobjs; i++ {
		clear(s.objs[i][:min(lazyChunk, s.nobjs-i*lazyChunk)])
	}
	s.nobjs = 0
	if len(s.byTable) > 4096 {
		s.byTable = map[*lua.LTable]int32{}
	} else {
		clear(s.byTable)
	}
	s.members = s.members[:0]
	clear(s.edits)
	s.edits = s.edits[:0]
	for _, d := range s.docs[:s.ndocs] {
		own, tape := d.own, d.tape
		if cap(own) > maxPooledBuf {
			own = nil
		}
		if cap(tape) > maxPooledBuf/8 {
			tape = nil
		}
		*d = lazyDoc{own: own[:0], tape: tape[:0]}
	}
	s.ndocs, s.detached = 0, 0
}

// detach makes the documents that read a body text keep a copy of it, before the body changes.
func (s *lazyState) detach() {
	for _, d := range s.docs[:s.ndocs] {
		if d.detached {
			continue
		}
		d.detached = true
		if s.detached+len(d.text) > s.maxDetached {
			d.text, d.tape, d.dropped = nil, nil, true
			continue
		}
		s.detached += len(d.text)
		d.own = append(d.own[:0], d.text...)
		d.text = d.own
	}
}

// lazyStateOf returns the lazyState of a table that is a lazy object not yet materialized.
func lazyStateOf(tb *lua.LTable) *lazyState {
	mt, ok := tb.Metatable.(*lua.LTable)
	if !ok || mt == ArrayMeta {
		return nil
	}
	ud, ok := mt.RawGetString("__lazy").(*lua.LUserData)
	if !ok {
		return nil
	}
	s, _ := ud.Value.(*lazyState)
	return s
}

// MaterializeJSON turns v, when it is a lazy object of a decoded body, into the ordinary table
// the eager decoder would have made (see jsonlazy.go); an error (the memory budget, the time
// limit) is raised in L. Functions that look at a table's raw contents call it first.
func MaterializeJSON(L *lua.LState, v lua.LValue) {
	if err := materializeValue(v); err != nil {
		L.RaiseError("%s", err.Error())
	}
}

func materializeValue(v lua.LValue) error {
	tb, ok := v.(*lua.LTable)
	if !ok {
		return nil
	}
	s := lazyStateOf(tb)
	if s == nil {
		return nil
	}
	o, err := s.objOf(tb)
	if err != nil {
		return err
	}
	return s.materialize(o)
}

// load makes the lazy value of a body text: a SyntaxError when the decoder would refuse it.
func (s *lazyState) load(text []byte, field string) (lua.LValue, error) {
	stop := s.in.Check
	if stop == nil {
		if ctx := s.L.Context(); ctx != nil {
			stop = ctx.Err
		}
	}
	if s.ndocs == maxLazyDocs {
		return lua.LNil, errLazyDocs
	}
	if s.ndocs == len(s.docs) {
		s.docs = append(s.docs, &lazyDoc{})
	}
	doc := s.docs[s.ndocs]
	tape, err := scanJSON(text, stop, append(doc.tape[:0], jsonSpan{})[:0]) // not nil: kept
	doc.tape = tape
	if err != nil {
		return lua.LNil, err
	}
	s.ndocs++
	doc.text, doc.field, doc.stop = text, field, stop
	doc.budget, doc.expansion = jsonBudget(len(text), s.in.expansion())
	doc.checkAt = max(doc.budget-checkEvery, 0)
	return s.decodeAt(doc, spaceEnd(text, 0), 0)
}

// decodeAt decodes the value at text[pos:], its objects lazy.
func (s *lazyState) decodeAt(doc *lazyDoc, pos, depth int) (lua.LValue, error) {
	d := decoder{data: doc.text, pos: pos, in: s.in, lz: s, doc: doc,
		budget: doc.budget, checkAt: doc.checkAt, expansion: doc.expansion, stop: doc.stop}
	v, err := d.value(s.L, depth)
	doc.budget, doc.checkAt = d.budget, d.checkAt
	return v, err
}

// newObject is decoder.value for an object of a lazy document: an empty table for {}, else a
// lazy object.
func (d *decoder) newObject(L *lua.LState, depth int) (lua.LValue, error) {
	start := d.pos
	if p := spaceEnd(d.data, start+1); d.data[p] == '}' {
		d.pos = p + 1
		if err := d.charge(costTable); err != nil {
			return lua.LNil, err
		}
		return L.CreateTable(0, 0), nil
	}
	if err := d.charge(costTable + costLazyObject); err != nil {
		return lua.LNil, err
	}
	d.pos = skipValue(d.data, d.doc.tape, start)
	s := d.lz
	tb := L.CreateTable(0, 0)
	tb.Metatable = s.meta
	i := s.nobjs
	if i/lazyChunk == len(s.objs) {
		s.objs = append(s.objs, make([]lazyObj, lazyChunk))
	}
	s.objs[i/lazyChunk][i%lazyChunk] = lazyObj{tb: tb, doc: d.doc, start: start, end: d.pos, depth: depth, editHead: -1, editTail: -1}
	s.byTable[tb] = int32(i)
	s.nobjs++
	return tb, nil
}

func (s *lazyState) at(i int32) *lazyObj { return &s.objs[i/lazyChunk][i%lazyChunk] }

func (s *lazyState) objOf(tb *lua.LTable) (*lazyObj, error) {
	i, ok := s.byTable[tb]
	if !ok {
		return nil, errLazyGone
	}
	o := s.at(i)
	if o.doc.dropped {
		return nil, errLazyDropped
	}
	return o, nil
}

// obj is objOf for the metamethods: the error is raised.
func (s *lazyState) obj(L *lua.LState) *lazyObj {
	o, err := s.objOf(L.CheckTable(1))
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return o
}

func (s *lazyState) raise(L *lua.LState, o *lazyObj, err error) {
	L.RaiseError("%s: %s", o.doc.field, err.Error())
}

// index is the __index of a lazy object: (t, key).
func (s *lazyState) index(L *lua.LState) int {
	o := s.obj(L)
	key, ok := L.Get(2).(lua.LString)
	if !ok || o.materialized {
		L.Push(lua.LNil)
		return 1
	}
	if e := s.findEdit(o, string(key)); e >= 0 {
		L.Push(s.edits[e].val)
		return 1
	}
	if err := s.buildIndex(o); err != nil {
		s.raise(L, o, err)
	}
	m := s.findMember(o, string(key))
	if m < 0 {
		L.Push(lua.LNil)
		return 1
	}
	v, err := s.decodeAt(o.doc, s.members[m].valStart, o.depth+1)
	if err != nil {
		s.raise(L, o, err)
	}
	// Kept: the same table next time, and a member is decoded (and charged to the budget) once
	// however often it is read.
	s.addEdit(o, string(key), v, true)
	L.Push(v)
	return 1
}

// newindex is the __newindex of a lazy object: (t, key, value).
func (s *lazyState) newindex(L *lua.LState) int {
	o := s.obj(L)
	key, ok := L.Get(2).(lua.LString)
	if !ok || o.materialized {
		// Keys that are not strings do not exist in a JSON object: as a table of its own.
		if err := s.materialize(o); err != nil {
			s.raise(L, o, err)
		}
		L.SetTable(o.tb, L.Get(2), L.Get(3))
		return 0
	}
	val := L.Get(3)
	if e := s.findEdit(o, string(key)); e >= 0 {
		s.edits[e].val, s.edits[e].cached = val, false
		return 0
	}
	s.addEdit(o, string(key), val, false)
	return 0
}

// pairs is the __pairs of a lazy object.
func (s *lazyState) pairs(L *lua.LState) int {
	o := s.obj(L)
	if err := s.materialize(o); err != nil {
		s.raise(L, o, err)
	}
	L.Push(s.next)
	L.Push(o.tb)
	L.Push(lua.LNil)
	return 3
}

func (s *lazyState) findEdit(o *lazyObj, key string) int32 {
	if o.editMap != nil {
		if e, ok := o.editMap[key]; ok {
			return e
		}
		return -1
	}
	for e := o.editHead; e >= 0; e = s.edits[e].next {
		if s.edits[e].key == key {
			return e
		}
	}
	return -1
}

func (s *lazyState) addEdit(o *lazyObj, key string, val lua.LValue, cached bool) {
	i := int32(len(s.edits))
	s.edits = append(s.edits, lazyEdit{key: key, val: val, cached: cached, next: -1})
	if o.editTail >= 0 {
		s.edits[o.editTail].next = i
	} else {
		o.editHead = i
	}
	o.editTail = i
	if o.nedits++; o.editMap != nil {
		o.editMap[key] = i
	} else if o.nedits > editMapAt {
		o.editMap = make(map[string]int32, 2*o.nedits)
		for e := o.editHead; e >= 0; e = s.edits[e].next {
			o.editMap[s.edits[e].key] = e
		}
	}
}

// What the index of a lazy object's members costs, charged against the budget: a member's
// record, and for a large object its entry in the key map, besides the key's bytes.
const (
	costMember = 48
	costMapped = 64
)

// buildIndex lists the members of o (once), charging the index to the document's budget (it is
// memory made from the text: for an object of many members, as much as their values); an
// error (the budget, the time limit) leaves o without an index. The functions that look members
// up (index, materialize, appendLazy, sameEdits) build it first and pass its error on.
func (s *lazyState) buildIndex(o *lazyObj) error {
	if o.indexed {
		return nil
	}
	doc := o.doc
	d := decoder{data: doc.text, budget: doc.budget, checkAt: doc.checkAt, expansion: doc.expansion, stop: doc.stop}
	defer func() { doc.budget, doc.checkAt = d.budget, d.checkAt }()
	t := o.doc.text
	first := len(s.members)
	p := spaceEnd(t, o.start+1)
	if t[p] != '}' {
		for {
			if err := d.charge(costMember); err != nil {
				s.members = s.members[:first]
				return err
			}
			ks := p + 1
			ke, escaped := stringEnd(t, p)
			p = spaceEnd(t, ke)
			p = spaceEnd(t, p+1) // the colon
			vs := p
			p = skipValue(t, o.doc.tape, p)
			s.members = append(s.members, lazyMember{keyStart: ks, keyEnd: ke - 1, valStart: vs, valEnd: p, escaped: escaped})
			p = spaceEnd(t, p)
			if t[p] == ',' {
				p = spaceEnd(t, p+1)
				continue
			}
			break // }
		}
	}
	ms := s.members[first:]
	if len(ms) >= keyMapAt {
		for i := range ms {
			if err := d.charge(costMapped + ms[i].keyEnd - ms[i].keyStart); err != nil {
				s.members = s.members[:first]
				return err
			}
		}
	}
	o.memFirst, o.memN = int32(first), int32(len(s.members)-first)
	o.indexed = true
	if len(ms) >= keyMapAt {
		o.keyMap = make(map[string]int32, len(ms))
		for i := range ms {
			k := string(s.keyBytes(o.doc, &ms[i]))
			if j, ok := o.keyMap[k]; ok {
				ms[j].shadowed = true
				o.dup = true
			}
			o.keyMap[k] = int32(i)
		}
	} else {
		for i := range ms {
			for j := i + 1; j < len(ms); j++ {
				if s.sameKey(o.doc, &ms[i], &ms[j]) {
					ms[i].shadowed = true
					o.dup = true
					break
				}
			}
		}
	}
	if o.dup {
		o.doc.hasDup = true
	}
	return nil
}

// keyBytes returns a member's key as the decoder decodes it; valid until the next call.
func (s *lazyState) keyBytes(doc *lazyDoc, m *lazyMember) []byte {
	if !m.escaped {
		return doc.text[m.keyStart:m.keyEnd]
	}
	s.scratch.data, s.scratch.pos = doc.text, m.keyStart-1
	b, _ := s.scratch.strBytes()
	return b
}

func (s *lazyState) sameKey(doc *lazyDoc, a, b *lazyMember) bool {
	if !a.escaped && !b.escaped {
		return string(doc.text[a.keyStart:a.keyEnd]) == string(doc.text[b.keyStart:b.keyEnd])
	}
	ka := string(s.keyBytes(doc, a))
	return ka == string(s.keyBytes(doc, b))
}

// findMember returns the index in s.members of the member of o named key (its last occurrence),
// or -1.
func (s *lazyState) findMember(o *lazyObj, key string) int {
	if !o.indexed && s.buildIndex(o) != nil {
		return -1 // (every caller built the index first and reported its error)
	}
	first := int(o.memFirst)
	if o.keyMap != nil {
		if i, ok := o.keyMap[key]; ok {
			return first + int(i)
		}
		return -1
	}
	for i := first + int(o.memN) - 1; i >= first; i-- {
		m := &s.members[i]
		if m.shadowed {
			continue
		}
		if !m.escaped {
			if m.keyEnd-m.keyStart == len(key) && string(o.doc.text[m.keyStart:m.keyEnd]) == key {
				return i
			}
			continue
		}
		if string(s.keyBytes(o.doc, m)) == key {
			return i
		}
	}
	return -1
}

// materialize decodes o's members into its table, in the text's order and as the eager decoder
// does (the first occurrence of a key gives its place, the last its value), applies its edits,
// and removes its metatable: it is then an ordinary table.
func (s *lazyState) materialize(o *lazyObj) error {
	if o.materialized {
		return nil
	}
	if err := s.buildIndex(o); err != nil {
		return err
	}
	doc := o.doc
	// Filled as a table of its own made to size (a first key given to an empty table makes a map
	// for 32), then moved into the lazy object's table, which keeps its identity. A table that
	// table.insert wrote into is filled in place.
	tb := o.tb
	inPlace := !rawEmpty(tb)
	if !inPlace {
		n := int(o.memN)
		for e := o.editHead; e >= 0; e = s.edits[e].next {
			n++
		}
		tb = s.L.CreateTable(0, n)
	}
	d := decoder{data: doc.text, in: s.in, lz: s, doc: doc,
		budget: doc.budget, checkAt: doc.checkAt, expansion: doc.expansion, stop: doc.stop}
	defer func() { doc.budget, doc.checkAt = d.budget, d.checkAt }()
	first := int(o.memFirst)
	for i := first; i < first+int(o.memN); i++ {
		m := &s.members[i]
		kb := s.keyBytes(doc, m)
		if o.dup && tb.RawGetString(unsafe.String(unsafe.SliceData(kb), len(kb))) != lua.LNil {
			continue // an earlier occurrence placed it
		}
		if err := d.charge(keyCost(i-first+1) + len(kb)); err != nil {
			return err
		}
		key := s.in.key(kb)
		var v lua.LValue
		if e := s.findEdit(o, key); e >= 0 {
			v = s.edits[e].val
		} else {
			last := m
			if m.shadowed {
				last = &s.members[s.findMember(o, key)]
			}
			d.pos = last.valStart
			var err error
			if v, err = d.value(s.L, o.depth+1); err != nil {
				return err
			}
		}
		if v == lua.LNil {
			tb.RawSetString(key, lua.LTrue) // its place, as the eager table keeps it
		}
		tb.RawSetString(key, v)
	}
	for e := o.editHead; e >= 0; e = s.edits[e].next {
		ed := &s.edits[e]
		if s.findMember(o, ed.key) >= 0 {
			continue
		}
		if ed.val == lua.LNil {
			tb.RawSetString(ed.key, lua.LTrue)
		}
		tb.RawSetString(ed.key, ed.val)
	}
	o.materialized = true
	o.editHead, o.editTail, o.nedits, o.editMap = -1, -1, 0, nil
	if !inPlace {
		*o.tb = *tb
	}
	o.tb.Metatable = lua.LNil
	return nil
}

// sameLazy reports whether v still describes the document's text.
func (s *lazyState) sameLazy(v lua.LValue, text []byte) bool {
	doc := s.docOf(text)
	d := decoder{data: text, lz: s, doc: doc}
	d.skipSpace()
	if !d.equal(v, 0) {
		return false
	}
	d.skipSpace()
	return d.pos == len(d.data)
}

// readDup reports whether a script looked into an object of the document of text that has a
// key twice: the body is then written in its normal form even if it is the same, so that
// what the script read is the only copy forwarded (a parser that takes the first copy of a
// key would read another value than the script did).
func (s *lazyState) readDup(text []byte) bool {
	doc := s.docOf(text)
	return doc != nil && doc.hasDup
}

// docOf returns the live document of text, nil if none.
func (s *lazyState) docOf(text []byte) *lazyDoc {
	for _, d := range s.docs[:s.ndocs] {
		if !d.detached && len(d.text) == len(text) && (len(text) == 0 || &d.text[0] == &text[0]) {
			return d
		}
	}
	return nil
}

// equalLazy is decoder.equal for a table at an object of the text, when a lazy document is in
// play: done is false when the caller should compare as usual.
func (d *decoder) equalLazy(tb *lua.LTable, depth int) (same, done bool) {
	s := d.lz
	if tb.Metatable == s.meta {
		o, err := s.objOf(tb)
		if err != nil {
			return false, true
		}
		if o.doc == d.doc && o.start == d.pos && rawEmpty(tb) {
			same = s.sameEdits(o, depth)
			d.pos = o.end
			return same, true
		}
		// Somewhere else than where it came from: compare what it holds.
		if s.materialize(o) != nil {
			return false, true
		}
		return false, false
	}
	if d.doc == nil || !d.doc.hasDup {
		return false, false
	}
	i, ok := s.byTable[tb]
	if !ok {
		return false, false
	}
	o := s.at(i)
	if o.doc != d.doc || o.start != d.pos || !o.dup {
		return false, false
	}
	// A materialized object whose text has a key twice: the shadowed members do not count.
	first := int(o.memFirst)
	n := 0
	for i := first; i < first+int(o.memN); i++ {
		m := &s.members[i]
		if m.shadowed {
			continue
		}
		kb := s.keyBytes(o.doc, m)
		field := tb.RawGetString(unsafe.String(unsafe.SliceData(kb), len(kb)))
		if field == lua.LNil {
			return false, true
		}
		sub := decoder{data: d.data, pos: m.valStart, lz: s, doc: d.doc}
		if !sub.equal(field, depth+1) {
			return false, true
		}
		n++
	}
	d.pos = o.end
	return tableLen(tb) == n, true
}

// sameEdits reports whether the edits of a lazy object at its own place leave it as its text.
func (s *lazyState) sameEdits(o *lazyObj, depth int) bool {
	if o.editHead >= 0 && s.buildIndex(o) != nil {
		return false // (encoding it fails with the error)
	}
	for e := o.editHead; e >= 0; e = s.edits[e].next {
		ed := &s.edits[e]
		m := s.findMember(o, ed.key)
		if m < 0 {
			if ed.val != lua.LNil {
				return false
			}
			continue
		}
		if ed.val == lua.LNil {
			return false
		}
		sub := decoder{data: o.doc.text, pos: s.members[m].valStart, lz: s, doc: o.doc}
		if !sub.equal(ed.val, depth+1) {
			return false
		}
	}
	return true
}

// appendLazy is the encoder for a lazy object not materialized. In verbatim mode it writes the
// object's text with its edits spliced in; otherwise it materializes it and encodes the table.
func (e *Encoder) appendLazy(dst []byte, s *lazyState, tb *lua.LTable, depth int) ([]byte, error) {
	o, err := s.objOf(tb)
	if err != nil {
		return dst, err
	}
	if !e.verbatim || !rawEmpty(tb) {
		// (table.insert puts elements into the table itself)
		if err := s.materialize(o); err != nil {
			return dst, err
		}
		return e.table(dst, tb, depth)
	}
	t := o.doc.text
	if o.editHead < 0 && !o.dup {
		return e.appendRaw(dst, t[o.start:o.end])
	}
	if err := s.buildIndex(o); err != nil {
		return dst, err
	}
	// The members in key order, as the encoder writes any table: those the script did not touch
	// as their text, edited ones encoded, deleted ones left out.
	var buf [16]lazyEntry
	ents := buf[:0]
	first := int(o.memFirst)
	for i := first; i < first+int(o.memN); i++ {
		m := &s.members[i]
		if m.shadowed {
			continue
		}
		kb := s.keyBytes(o.doc, m)
		key := unsafe.String(unsafe.SliceData(kb), len(kb))
		if m.escaped {
			key = string(kb) // kb is the scratch buffer
		}
		ei := s.findEdit(o, key)
		if ei >= 0 && s.edits[ei].val == lua.LNil {
			continue
		}
		ents = append(ents, lazyEntry{key: key, member: int32(i), edit: ei})
	}
	for ei := o.editHead; ei >= 0; ei = s.edits[ei].next {
		if ed := &s.edits[ei]; ed.val != lua.LNil && s.findMember(o, ed.key) < 0 {
			ents = append(ents, lazyEntry{key: ed.key, member: -1, edit: ei})
		}
	}
	slices.SortFunc(ents, func(a, b lazyEntry) int { return strings.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for n, en := range ents {
		if n > 0 {
			dst = append(dst, ',')
		}
		if en.edit < 0 {
			m := &s.members[en.member]
			if dst, err = e.appendRaw(dst, t[m.keyStart-1:m.valEnd]); err != nil {
				return dst, err
			}
			continue
		}
		ed := s.edits[en.edit]
		if en.member < 0 {
			if e.Max > 0 && e.over(dst, ed.key) {
				return dst, e.tooLong()
			}
			dst = AppendString(dst, ed.key)
		} else {
			m := s.members[en.member]
			if dst, err = e.appendRaw(dst, t[m.keyStart-1:m.keyEnd+1]); err != nil {
				return dst, err
			}
			if ed.cached && !o.doc.hasDup { // (else its text may hold a copy the script did not read)
				sub := decoder{data: t, pos: m.valStart, lz: s, doc: o.doc}
				if sub.equal(ed.val, depth+1) {
					dst = append(dst, ':')
					if dst, err = e.appendRaw(dst, t[m.valStart:m.valEnd]); err != nil {
						return dst, err
					}
					continue
				}
			}
		}
		dst = append(dst, ':')
		if dst, err = e.append(dst, ed.val, depth); err != nil {
			return dst, err
		}
		if e.Max > 0 && len(dst) > e.Max {
			return dst, e.tooLong()
		}
	}
	return append(dst, '}'), nil
}

type lazyEntry struct {
	key    string
	member int32 // in lazyState.members, -1: a key the script added
	edit   int32 // in lazyState.edits, -1: none
}

// appendRaw appends text of the body as it is, within Max.
func (e *Encoder) appendRaw(dst, text []byte) ([]byte, error) {
	if e.Max > 0 && len(dst)+len(text) > e.Max {
		return dst, e.tooLong()
	}
	return append(dst, text...), nil
}

// rawEmpty reports whether a lazy object's table holds nothing itself (table.insert can put
// elements there).
func rawEmpty(tb *lua.LTable) bool {
	k, _ := tb.Next(lua.LNil)
	return k == lua.LNil
}
