package scripting

import (
	"reflect"

	lua "github.com/yuin/gopher-lua"
)

// Lua 5.1's next(t, k) raises "invalid key to 'next'" for a key t never
// held; gopher-lua's LTable.Next instead starts over from the second hash
// key. A key whose value is nil may still be valid: one set to nil during
// the traversal (for k in pairs(t) do t[k] = nil end), which Lua keeps as
// a dead key. gopher-lua keeps such a key too, in its unexported array
// slice (integer keys) or k2i index (the others, never removed), and
// exports nothing that tells them apart from keys never set: heldKey
// reads those two fields by reflection, only for a key whose value is
// nil. Should a gopher-lua version rename them, heldKey answers true (no
// error, as before); TestNextInvalidKey pins them.

var (
	ltableType    = reflect.TypeOf(lua.LTable{})
	arrayField, _ = ltableType.FieldByName("array")
	k2iField, _   = ltableType.FieldByName("k2i")
	fieldsKnown   = arrayField.Type == reflect.TypeOf([]lua.LValue(nil)) &&
		k2iField.Type == reflect.TypeOf(map[lua.LValue]int(nil))
)

// heldKey reports whether key, whose value in t is nil, is a key t held
// (a dead key next may continue from).
func heldKey(t *lua.LTable, key lua.LValue) bool {
	if !fieldsKnown {
		return true
	}
	tv := reflect.ValueOf(t).Elem()
	if n, ok := key.(lua.LNumber); ok && n >= 1 && float64(n) == float64(int64(n)) &&
		int64(n) <= int64(tv.FieldByIndex(arrayField.Index).Len()) {
		return true
	}
	k2i := tv.FieldByIndex(k2iField.Index)
	return !k2i.IsNil() && k2i.MapIndex(reflect.ValueOf(&key).Elem()).IsValid()
}

// validNextKey reports whether next may continue from key in t: nil
// (the start), a key with a value, or a dead key.
func validNextKey(t *lua.LTable, key lua.LValue) bool {
	return key == lua.LNil || t.RawGet(key) != lua.LNil || heldKey(t, key)
}
