package server

import (
	"sort"
	"time"

	"github.com/structd/structd/commands"
)

// Clients implements commands.Server: a snapshot of every client, by ID.
func (s *Server) Clients() []commands.ClientInfo {
	s.mu.Lock()
	cls := make([]*client, 0, len(s.clients))
	for _, cl := range s.clients {
		cls = append(cls, cl)
	}
	s.mu.Unlock()
	sort.Slice(cls, func(i, j int) bool { return cls[i].session.ID < cls[j].session.ID })
	now := time.Now()
	mono := s.monoNow()
	out := make([]commands.ClientInfo, len(cls))
	for i, cl := range cls {
		out[i] = cl.info(now, mono)
	}
	return out
}

// Client implements commands.Server.
func (s *Server) Client(id int64) (commands.ClientInfo, bool) {
	s.mu.Lock()
	cl := s.clients[id]
	s.mu.Unlock()
	if cl == nil {
		return commands.ClientInfo{}, false
	}
	return cl.info(time.Now(), s.monoNow()), true
}

// KillClient implements commands.Server. The client leaves the registry at
// once, as Redis frees it at once: the next CLIENT LIST no longer shows it
// even if its goroutine has not finished yet.
func (s *Server) KillClient(id int64) bool {
	s.mu.Lock()
	cl := s.clients[id]
	delete(s.clients, id)
	s.mu.Unlock()
	if cl == nil {
		return false
	}
	cl.kill()
	return true
}

// info snapshots cl from its published fields; safe from any goroutine.
// Fields StructD has no equivalent for yet (pub/sub, MULTI, output lists)
// read as Redis shows an idle client.
func (cl *client) info(now time.Time, mono time.Duration) commands.ClientInfo {
	name, libName, libVer, user := cl.session.Identity()
	st := cl.pubState.Load()
	flags := "N"
	if cl.blocked.Load() {
		flags = "b"
	}
	if st&(1<<40) != 0 {
		flags += "e"
	}
	switch cl.role.Load() {
	case roleMaster:
		flags = addFlag(flags, 'M')
	case roleReplica:
		flags = addFlag(flags, 'S')
	}
	cmdName := "NULL"
	if c := cl.pubCmd.Load(); c != nil {
		cmdName = c.Name
	}
	qbuf := int(cl.pubQbuf.Load())
	rbs := int(cl.pubRbs.Load())
	ci := commands.ClientInfo{
		ID:       cl.session.ID,
		Addr:     cl.addr,
		LAddr:    cl.laddr,
		FD:       cl.fd,
		Name:     name,
		Age:      int64(now.Sub(cl.created) / time.Second),
		Idle:     int64((mono - time.Duration(cl.lastInteraction.Load())) / time.Second),
		Flags:    flags,
		DB:       int(int32(uint32(st))),
		Multi:    -1,
		QBuf:     qbuf,
		QBufFree: max(rbs-qbuf, 0),
		RBS:      rbs,
		RBP:      int(cl.pubRbp.Load()),
		TotMem:   rbs + clientOverhead,
		Events:   "r",
		Cmd:      cmdName,
		User:     user,
		Redir:    -1,
		Resp:     int(uint8(st >> 32)),
		LibName:  libName,
		LibVer:   libVer,
	}
	cl.addStateInfo(&ci)
	return ci
}

// clientOverhead approximates the fixed memory of one client (structs,
// goroutine stack) for CLIENT LIST's tot-mem.
const clientOverhead = 8 << 10
