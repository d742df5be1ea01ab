package commands

import "testing"

// BenchmarkExec measures the per-command cost of the benchmark's commands
// through Exec (locks, lookup, handler, reply), without the network.
func BenchmarkExec(b *testing.B) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"get", []string{"get", "key:000000012345"}},
		{"set", []string{"set", "key:000000012345", "xxx"}},
		{"incr", []string{"incr", "counter:rand_int"}},
		{"mset", []string{"mset", "key:1", "xxx", "key:2", "xxx", "key:3", "xxx", "key:4", "xxx", "key:5", "xxx",
			"key:6", "xxx", "key:7", "xxx", "key:8", "xxx", "key:9", "xxx", "key:10", "xxx"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			kt := newKeyTester(&testing.T{})
			kt.do("set", "key:000000012345", "xxx")
			cmd := All().Lookup([]byte(tc.args[0]))
			args := make([][]byte, len(tc.args))
			for i, a := range tc.args {
				args[i] = []byte(a)
			}
			b.ReportAllocs()
			for b.Loop() {
				kt.ctx.Args = args
				kt.ctx.W.Reset()
				Exec(&kt.ctx, cmd)
			}
		})
	}
}
