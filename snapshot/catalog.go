package snapshot

import "github.com/structd/structd/disktier"

// Catalog is the server's script catalog (function libraries, script
// aliases) as a checkpoint sees it: small state beside the keyspace that a
// checkpoint stores whole, point-in-time, when it changed.
type Catalog interface {
	// CaptureCatalog returns the catalog's encoding and its change count
	// (gen); changed is false, and data nil, when it has not changed since
	// the last checkpoint that stored it. It is called with the keyspace
	// locked exclusively at P, and the commands that change the catalog
	// hold it too, so data is the catalog as of P.
	CaptureCatalog() (data []byte, gen uint64, changed bool)
	// CatalogSaved records that the catalog of change count gen is
	// committed. A failed checkpoint does not call it: the catalog stays
	// changed for the next one.
	CatalogSaved(gen uint64)
}

// catalogAtP captures the catalog, if any, into ck, with the keyspace
// locked at P. It returns the change count to report once ck commits, and
// whether there is one.
func (c *Checkpointer) catalogAtP(ck *disktier.Checkpoint) (gen uint64, write bool, err error) {
	if c.Catalog == nil {
		return 0, false, nil
	}
	data, gen, changed := c.Catalog.CaptureCatalog()
	if !changed {
		return 0, false, nil
	}
	return gen, true, ck.SetCatalog(data)
}
