package commands

import (
	"reflect"
	"strings"
	"testing"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/resp"
)

// fakeScripts runs a fixed list of commands through ScriptExec for every
// EVAL, as a script's redis.call would, and keeps their replies.
type fakeScripts struct {
	ScriptEngine // nil: only Eval is called
	calls        [][]string
	replies      []string
	nested       Ctx
}

func (f *fakeScripts) Eval(c *Ctx, byHash, readOnly bool) {
	var w resp.Writer
	for _, call := range f.calls {
		args := make([][]byte, len(call))
		for i, a := range call {
			args[i] = []byte(a)
		}
		w.Reset()
		cmd := All().Lookup(args[0])
		ScriptExec(c, &f.nested, cmd, args, &w)
		f.replies = append(f.replies, string(w.Buf))
	}
	c.W.OK()
}

// scriptServer is a Server whose only answers are its script engine and
// the default configuration.
type scriptServer struct {
	Server
	engine ScriptEngine
}

func (s scriptServer) ScriptEngine() ScriptEngine { return s.engine }
func (s scriptServer) Config() *config.Config     { return config.Default() }

// unitLog counts LogEffects calls on top of captureLog.
type unitLog struct {
	captureLog
	units int
}

func (l *unitLog) LogEffects(effects []Effect) (aof.Pos, error) {
	l.units++
	return l.captureLog.LogEffects(effects)
}

// TestScriptExecEffects checks that the commands a script runs log their
// effects (rewritten as usual) together with the EVAL, as one unit, each
// in the database it ran in, and that failed and read-only calls log
// nothing.
func TestScriptExecEffects(t *testing.T) {
	kt := newKeyTester(t)
	log := &unitLog{}
	kt.ctx.Log = log
	f := &fakeScripts{calls: [][]string{
		{"set", "a", "1"},
		{"get", "a"},
		{"lpush", "a", "x"}, // WRONGTYPE: no effect
		{"select", "2"},
		{"rpush", "l", "x", "y"},
		{"incrbyfloat", "f", "1.5"},
	}}
	kt.ctx.Server = scriptServer{engine: f}

	kt.expect("+OK\r\n", "eval", "ignored", "0")
	wantReplies := []string{"+OK\r\n", "$1\r\n1\r\n", "-" + ErrWrongType + "\r\n", "+OK\r\n", ":2\r\n", "$3\r\n1.5\r\n"}
	if !reflect.DeepEqual(f.replies, wantReplies) {
		t.Errorf("replies %q, want %q", f.replies, wantReplies)
	}
	if log.units != 1 {
		t.Errorf("effects logged in %d units, want 1", log.units)
	}
	var got []string
	for _, e := range log.effects {
		got = append(got, string(rune('0'+e.DB))+":"+strings.Join(effectStrings(e), " "))
	}
	want := []string{"0:set a 1", "2:rpush l x y", "2:set f 1.5 keepttl"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("effects %q, want %q", got, want)
	}
}
