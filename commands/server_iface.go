package commands

// Server is what connection and server commands need from the running
// server: the client registry, configuration and lifecycle. server.Server
// implements it; commands never import the server package.
type Server interface {
	// Table is the command table the server dispatches with.
	Table() Table
}
