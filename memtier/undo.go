package memtier

import (
	"sync/atomic"

	"github.com/structd/structd/memtier/types"
)

// Undo logs: how a transaction that rolls back (TXN.MULTI ... EXEC,
// TXN.EVAL, TXN.ESHA) puts the data back as it found it.
//
// Before a command of such a transaction changes a key, the command layer
// saves the key's before-image in the transaction's UndoLog: the whole
// value (a deep copy) with its TTL, or, for a hash, set or sorted set
// held in its big encoding (hashtable, skiplist, or past elemUndoMin
// elements), only the elements the command names (HSET's fields, SREM's
// members, ...) with their old value, score or absence. Rollback applies
// the entries newest first, so each one finds the key as it was just after
// the command that saved it, and leaves it as it was just before. Hence:
//
//   - A key needs one whole image per transaction: once one is saved, later
//     commands save nothing for the key, since restoring the earliest image
//     undoes everything after it.
//   - An element entry applies to the object under the key when it is
//     restored (an earlier whole image may have put a copy there), or, if
//     the command emptied and so deleted the key, to the object it saved,
//     which is put back.
//
// Lists of more than listUndoMin elements changed at their ends (LPUSH,
// RPOP, LMOVE, ...) are saved as those operations: the count pushed, or
// the elements popped, undone by popping as many or pushing them back.
//
// The cost of a transaction is thus what it touched: one copy per key it
// wrote whole (a small value, a string, a list changed in its middle), one
// entry per named element of a big hash, set or sorted set or per element
// pushed or popped at the ends of a big list, nothing for a key it
// deleted (SaveDeleted keeps the deleted value itself); never the dataset.
//
// Saving reads the key through Peek, so a cold key is faulted in from the
// disk tier first and its before-image is its real value; an expired one
// is reclaimed (expiry is not part of the transaction) and saved as absent.
//
// While a log is active (BeginUndo ... EndUndo, under LockAll) the
// keyspace holds back the "new" and "keymiss" keyspace events (Hold): a
// rolled-back transaction must deliver none. ("expired" events are not
// held: expiry is not the transaction's doing, and stays.) The command layer holds its own
// notifications and WATCH touches the same way, in the same list, so a
// committed transaction delivers them in order.

// elemUndoMin is the size past which a collection in a compact encoding
// (whose copy is one contiguous buffer, bounded by the *-max-listpack-*
// and set-max-intset-entries settings) is still saved element by element:
// a configuration that raises those limits must not make a transaction
// copy huge values.
const elemUndoMin = 1024

// listUndoMin is the length past which a list is undone by operations at
// its ends (pushes popped, pops pushed back) rather than copied.
const listUndoMin = 128

// UndoStats count what undo logs did since the start (tests read them).
type UndoStats struct {
	Commits   atomic.Int64
	Rollbacks atomic.Int64
	// Copied counts the elements copied into before-images: every element
	// of a collection saved whole, one per string, one per element entry.
	Copied atomic.Int64
	// ElementEntries counts the element-level entries saved.
	ElementEntries atomic.Int64
	// Unsaved counts changes reported for a key with no before-image
	// while a log was active: a write path the command layer did not
	// save first (a bug; tests require none).
	Unsaved atomic.Int64
}

// UndoLog is one transaction's before-images and held events. Its user
// holds LockAll from BeginUndo until EndUndo.
type UndoLog struct {
	// Limits the element restores convert collections by, as the writes
	// they undo did (the server's *-max-listpack-* settings).
	HashLimits, ZSetLimits types.Limits
	MaxIntset              int
	ListFill               int // list-max-listpack-size

	entries []undoEntry
	saved   map[undoKey]bool // keys with an entry; true: a whole image
	held    []func()
}

type undoKey struct {
	db  int
	key string
}

// undoEntry is one before-image: the whole key (elems and list nil, obj
// the copy or nil for "absent"), elements of the collection obj, or what a
// command did at the ends of the list obj.
type undoEntry struct {
	db     *DB
	key    string
	obj    *Object
	expire int64 // -1: none
	elems  []undoElem
	list   *listUndo
}

// listUndo is what one command did at one end of a list: pushed elements
// (undone by popping as many) or popped ones (pushed back).
type listUndo struct {
	head   bool
	pushed int
	popped [][]byte
}

// undoElem is an element's state before the command: absent, or present
// with val (a hash field's value) or score (a sorted set member's).
type undoElem struct {
	name    string
	present bool
	val     []byte
	score   float64
}

// NewUndoLog returns an empty log with Redis's default encoding limits.
func NewUndoLog() *UndoLog {
	return &UndoLog{
		HashLimits: types.DefaultHashLimits,
		ZSetLimits: types.DefaultZSetLimits,
		MaxIntset:  types.DefaultSetMaxIntset,
		ListFill:   types.DefaultListFill,
		saved:      map[undoKey]bool{},
	}
}

// BeginUndo makes u the active log. Caller holds LockAll until EndUndo.
func (ks *Keyspace) BeginUndo(u *UndoLog) { ks.undo = u }

// EndUndo deactivates the log.
func (ks *Keyspace) EndUndo() { ks.undo = nil }

// ActiveUndo is the active undo log, or nil. Caller holds a lock.
func (ks *Keyspace) ActiveUndo() *UndoLog { return ks.undo }

// Len is the number of entries saved.
func (u *UndoLog) Len() int { return len(u.entries) }

// Saved reports whether key of db has a before-image (whole or of
// elements) in the log.
func (u *UndoLog) Saved(db *DB, key []byte) bool {
	_, ok := u.saved[undoKey{db.id, string(key)}]
	return ok
}

// SaveKey saves the whole before-image of key in db (value and TTL, or
// its absence), unless one is saved already.
func (u *UndoLog) SaveKey(db *DB, key []byte) { u.saveKey(db, key, true) }

// SaveDeleted is SaveKey before a command that deletes key if it exists
// and does nothing else to it (DEL, UNLINK): the value is kept as it is,
// not copied, since once deleted nothing but the rollback reaches it.
func (u *UndoLog) SaveDeleted(db *DB, key []byte) { u.saveKey(db, key, false) }

func (u *UndoLog) saveKey(db *DB, key []byte, copyValue bool) {
	k := undoKey{db.id, string(key)}
	if u.saved[k] {
		return
	}
	u.saved[k] = true
	e := undoEntry{db: db, key: k.key, expire: -1}
	if o := db.Peek(key); o != nil {
		e.obj, e.expire = o, db.Expire(key)
		if copyValue {
			e.obj = o.Clone()
			db.ks.UndoStats.Copied.Add(int64(elementCount(o)))
		}
	}
	u.entries = append(u.entries, e)
}

// SavesElems reports whether SaveElems of key would save elements: it
// has no whole image yet and holds a big collection. Callers ask before
// working out the names.
func (u *UndoLog) SavesElems(db *DB, key []byte) bool {
	if u.saved[undoKey{db.id, string(key)}] {
		return false
	}
	o := db.Peek(key)
	return o != nil && elementLevel(o)
}

// SaveElems saves, for a command that changes only the named elements of
// key (fields of a hash, members of a set or sorted set), their states
// before it; a key that is not a big collection is saved whole instead.
func (u *UndoLog) SaveElems(db *DB, key []byte, names [][]byte) {
	k := undoKey{db.id, string(key)}
	if u.saved[k] {
		return
	}
	o := db.Peek(key)
	if o == nil || !elementLevel(o) {
		u.SaveKey(db, key)
		return
	}
	u.saved[k] = false
	e := undoEntry{db: db, key: k.key, obj: o, expire: db.Expire(key), elems: make([]undoElem, len(names))}
	for i, n := range names {
		e.elems[i] = elemState(o, n)
	}
	u.entries = append(u.entries, e)
	db.ks.UndoStats.ElementEntries.Add(1)
	db.ks.UndoStats.Copied.Add(int64(len(names)))
}

// SavesList reports whether key is saved by list operations (SaveListPush,
// SaveListPop): it has no whole image yet and holds a list of more than
// listUndoMin elements.
func (u *UndoLog) SavesList(db *DB, key []byte) bool {
	if u.saved[undoKey{db.id, string(key)}] {
		return false
	}
	o := db.Peek(key)
	return o != nil && o.Type == TypeList && o.Payload().(*types.List).Len() > listUndoMin
}

// SaveListPush records that a command pushes n elements at the head (or
// the tail) of the list under key, for which SavesList is true. The
// command must push them: nothing else checks.
func (u *UndoLog) SaveListPush(db *DB, key []byte, head bool, n int) {
	u.saveList(db, key, &listUndo{head: head, pushed: n})
}

// SaveListPop records that a command pops n elements from the head (or
// the tail) of the list under key, for which SavesList is true, reading
// them now (all of them if the list is shorter). The command must pop
// them: nothing else checks.
func (u *UndoLog) SaveListPop(db *DB, key []byte, head bool, n int) {
	l := db.Peek(key).Payload().(*types.List)
	lu := &listUndo{head: head, popped: make([][]byte, 0, min(n, l.Len()))}
	l.Each(!head, func(_ int, e types.Elem) bool {
		if len(lu.popped) == n {
			return false
		}
		lu.popped = append(lu.popped, e.AppendTo(nil))
		return true
	})
	u.saveList(db, key, lu)
	db.ks.UndoStats.Copied.Add(int64(len(lu.popped)))
}

func (u *UndoLog) saveList(db *DB, key []byte, lu *listUndo) {
	k := undoKey{db.id, string(key)}
	u.saved[k] = false
	u.entries = append(u.entries, undoEntry{db: db, key: k.key, obj: db.Peek(key), expire: db.Expire(key), list: lu})
	db.ks.UndoStats.ElementEntries.Add(1)
}

// SaveRemoved adds, to the element entry SaveElems has just saved for key
// (for a command whose removals are known only once it ran: SPOP), the
// members it removed, which were present before it. It does nothing if
// the last entry is not that one (the key was saved whole).
func (u *UndoLog) SaveRemoved(db *DB, key []byte, members [][]byte) {
	if len(u.entries) == 0 {
		return
	}
	e := &u.entries[len(u.entries)-1]
	if e.db != db || e.key != string(key) || e.elems == nil {
		return
	}
	for _, m := range members {
		e.elems = append(e.elems, undoElem{name: string(m), present: true})
	}
	db.ks.UndoStats.Copied.Add(int64(len(members)))
}

// elementLevel reports whether o is saved element by element: a hash, set
// or sorted set in its big encoding (which never converts back, so undoing
// elements leaves the encoding as it was) or past elemUndoMin elements.
func elementLevel(o *Object) bool {
	switch o.Type {
	case TypeHash, TypeSet, TypeZSet:
		switch o.EncodingName() {
		case "hashtable", "skiplist":
			return true
		}
		return elementCount(o) > elemUndoMin
	}
	return false
}

// elementCount is the number of elements of a collection, 1 for a string.
func elementCount(o *Object) int {
	if l, ok := o.Payload().(interface{ Len() int }); ok {
		return l.Len()
	}
	return 1
}

// elemState reads element name of the collection o.
func elemState(o *Object, name []byte) undoElem {
	el := undoElem{name: string(name)}
	switch v := o.Payload().(type) {
	case *types.Hash:
		if val, ok := v.Get(name); ok {
			el.present, el.val = true, val.AppendTo(nil)
		}
	case *types.Set:
		el.present = v.Contains(name)
	case *types.ZSet:
		el.score, el.present = v.Score(name)
	}
	return el
}

// restoreElem puts element el of the collection o back.
func (u *UndoLog) restoreElem(o *Object, el undoElem) {
	name := []byte(el.name)
	switch v := o.Payload().(type) {
	case *types.Hash:
		if el.present {
			v.Set(name, el.val, u.HashLimits)
		} else {
			v.Delete(name)
		}
	case *types.Set:
		if el.present {
			v.Add(name, u.MaxIntset)
		} else {
			v.Remove(name)
		}
	case *types.ZSet:
		if el.present {
			v.Add(name, el.score, 0, u.ZSetLimits)
		} else {
			v.Remove(name)
		}
	}
}

// Hold defers fn (a notification, a WATCH touch) until the transaction
// commits; a rollback drops it.
func (u *UndoLog) Hold(fn func()) { u.held = append(u.held, fn) }

// holdEvent holds the call of hook (OnNewKey or OnKeyMiss: the "new" and
// "keymiss" keyspace events) for key, made while the log is active.
func (u *UndoLog) holdEvent(hook func(db *DB, key []byte), db *DB, key []byte) {
	k := string(key)
	u.Hold(func() { hook(db, []byte(k)) })
}

// Commit forgets the before-images and runs the held functions in order.
// Call it after EndUndo, still under LockAll.
func (u *UndoLog) Commit(ks *Keyspace) {
	for _, fn := range u.held {
		fn()
	}
	u.reset()
	ks.UndoStats.Commits.Add(1)
}

// Rollback puts every saved key back as it was before the transaction,
// newest entry first, and drops the held functions. Call it while the log
// is active (so the events of the restores are held and dropped too),
// then EndUndo. The restores mark the keys dirty, so the next checkpoint
// writes them (with the values the disk may already hold: harmless).
func (u *UndoLog) Rollback(ks *Keyspace) {
	for i := len(u.entries) - 1; i >= 0; i-- {
		u.restore(&u.entries[i])
	}
	u.reset()
	ks.UndoStats.Rollbacks.Add(1)
}

func (u *UndoLog) reset() {
	clear(u.entries)
	u.entries = u.entries[:0]
	clear(u.saved)
	clear(u.held)
	u.held = u.held[:0]
}

// restore applies one entry.
func (u *UndoLog) restore(e *undoEntry) {
	db, key := e.db, []byte(e.key)
	if e.elems == nil && e.list == nil {
		if e.obj == nil {
			db.Delete(key)
			return
		}
		db.Set(key, e.obj)
		if e.expire != -1 {
			db.SetExpire(key, e.expire)
		}
		return
	}
	s := SlotOf(key)
	cur := db.slots[s].keys.get(e.key)
	if cur == nil || cur.Type != e.obj.Type {
		// The command emptied the collection and so deleted the key:
		// put its object back, elements restored below.
		cur = e.obj
		db.Set(key, cur)
	}
	if lu := e.list; lu != nil {
		l := cur.Payload().(*types.List)
		for range lu.pushed {
			l.Pop(lu.head)
		}
		for i := len(lu.popped) - 1; i >= 0; i-- {
			l.Push(lu.popped[i], lu.head, u.ListFill)
		}
		db.MarkDirty(key)
	} else {
		names := make([][]byte, len(e.elems))
		for i := len(e.elems) - 1; i >= 0; i-- {
			u.restoreElem(cur, e.elems[i])
			names[i] = []byte(e.elems[i].name)
		}
		db.MarkDirtyElems(key, names)
	}
	if at := db.Expire(key); at != e.expire {
		if e.expire == -1 {
			db.Persist(key)
		} else {
			db.SetExpire(key, e.expire)
		}
	}
}
