package replication

import (
	"github.com/structd/structd/aof"
	"github.com/structd/structd/internal/resp"
)

// encoder turns the effects of writes into the replication stream: RESP
// multibulk commands, a SELECT before a command whose database differs from
// the previous one's, and MULTI/EXEC around the effects of one command,
// transaction or script when there are several (as the AOF logs them, so
// a replica applies them as one unit). The Manager's feed lock guards it.
type encoder struct {
	db  int // database of the last SELECT sent, -1 to send one first
	buf resp.Writer
}

// encode appends effects to the encoder's buffer.
func (e *encoder) encode(effects []aof.Command) {
	wrap := len(effects) > 1
	if wrap {
		e.command([][]byte{[]byte("MULTI")})
	}
	for _, c := range effects {
		if c.DB != e.db {
			e.buf.Array(2)
			e.buf.BulkString("SELECT")
			e.buf.BulkInt(int64(c.DB))
			e.db = c.DB
		}
		e.command(c.Args)
	}
	if wrap {
		e.command([][]byte{[]byte("EXEC")})
	}
}

// command appends one command with no SELECT.
func (e *encoder) command(args [][]byte) {
	e.buf.Array(len(args))
	for _, a := range args {
		e.buf.Bulk(a)
	}
}
