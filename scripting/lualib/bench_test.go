package lualib

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// benchScript runs a loaded script b.N times in one state.
func benchScript(b *testing.B, setup, body string) {
	L := lua.NewState()
	defer L.Close()
	Open(L)
	if err := L.DoString(setup); err != nil {
		b.Fatal(err)
	}
	fn, err := L.LoadString(body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		L.Push(fn)
		if err := L.PCall(0, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

const benchObject = `obj = {} for i = 1, 20 do obj['field' .. i] = i * 1.5 end obj.list = {1, 2, 3, 'x'}`

func BenchmarkCJSONEncodeObject(b *testing.B) {
	benchScript(b, benchObject, `cjson.encode(obj)`)
}

func BenchmarkCJSONDecodeObject(b *testing.B) {
	benchScript(b, benchObject+` text = cjson.encode(obj)`, `cjson.decode(text)`)
}

func BenchmarkCMsgpackPackObject(b *testing.B) {
	benchScript(b, benchObject, `cmsgpack.pack(obj)`)
}

func BenchmarkCMsgpackUnpackObject(b *testing.B) {
	benchScript(b, benchObject+` packed = cmsgpack.pack(obj)`, `cmsgpack.unpack(packed)`)
}

func BenchmarkStructPackUnpack(b *testing.B) {
	benchScript(b, ``, `struct.unpack('>i4 d c3', struct.pack('>i4 d c3', 7, 1.5, 'abc'))`)
}

func BenchmarkBitOps(b *testing.B) {
	benchScript(b, ``, `bit.tohex(bit.bxor(bit.band(0xff00, 0x0ff0), bit.lshift(1, 4)))`)
}
