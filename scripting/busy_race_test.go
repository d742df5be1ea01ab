//go:build race

package scripting_test

// raceEnabled: the race detector slows deep Lua recursion and heap growth
// tenfold; TestScriptHardening leaves those cases to runs without it.
const raceEnabled = true
