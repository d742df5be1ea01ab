package commands

import "testing"

// TestKeyPositionsStayInRange feeds every command's key extraction hostile
// argument lists (negative, huge and non-numeric counts, keywords in odd
// places) of every length its arity allows up to 7: the dispatcher calls it
// before the handler to lock slots, so it must never panic or point
// outside the arguments.
func TestKeyPositionsStayInRange(t *testing.T) {
	words := []string{"0", "1", "2", "-1", "3", "99999999999", "abc", "STORE", "KEYS", "BY", "GET", "LIMIT"}
	var cmds []*Command
	for _, c := range All().Sorted() {
		cmds = append(cmds, c)
		cmds = append(cmds, sortedSubcommands(c)...)
	}
	for _, cmd := range cmds {
		if !cmd.hasKeys() {
			continue
		}
		for n := 1; n <= 7; n++ {
			if !cmd.ArityOK(n) {
				continue
			}
			// Every argument after the name (and subcommand) takes each
			// word in turn, the others staying "1".
			for pos := 1; pos < n; pos++ {
				for _, w := range words {
					args := make([][]byte, n)
					for i := range args {
						args[i] = []byte("1")
					}
					args[0] = []byte(cmd.Name)
					args[pos] = []byte(w)
					checkPositions(t, cmd, args)
				}
			}
		}
	}
}

func checkPositions(t *testing.T, cmd *Command, args [][]byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s %q: key extraction panicked: %v", cmd.Name, args, r)
		}
	}()
	for _, p := range cmd.KeyPositions(args) {
		if p < 1 || p >= len(args) {
			t.Errorf("%s %q: key position %d out of range", cmd.Name, args, p)
			return
		}
	}
}
