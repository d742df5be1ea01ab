package commands

import "strings"

// replyHelp writes a HELP subcommand's reply as Redis's addReplyHelp does:
// a header naming the command as the client typed it, upper-cased, then
// lines, then the HELP entry, each as a status reply.
func replyHelp(c *Ctx, lines []string) {
	c.W.Array(len(lines) + 3)
	c.W.Simple(strings.ToUpper(c.Arg(0)) + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		c.W.Simple(l)
	}
	c.W.Simple("HELP")
	c.W.Simple("    Prints this help.")
}
