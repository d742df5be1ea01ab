// Package crash is the crash-safety harness of issue 4 (item 6): it runs a
// write workload against a real server process, kills the process with
// SIGKILL at random moments, restarts it on the same data directory and
// checks what survived.
//
// The workload is several concurrent clients, each owning its own keys:
// INCR on counters and RPUSH of the sequence numbers 1, 2, 3, ... onto
// lists, pipelined a few commands at a time. For every key the harness
// knows the writes it issued (sent; the reply may be lost by the kill) and
// the ones acknowledged (reply received). After each restart, once the
// server answers PING and serves reads, it checks:
//
//   - with appendfsync always (TestCrash): every counter's value v obeys
//     acked <= v <= issued, and every list is exactly 1..m with
//     acked <= m <= issued, so it is a prefix of the issued sequence that
//     holds every acknowledged element (no gap, duplicate or reordering);
//     the filler keys written before the first kill are all intact and
//     DBSIZE counts nothing else;
//   - with appendfsync everysec (TestCrashEverysec): the same upper bounds
//     and prefix shape, and every write acknowledged more than
//     everysecBound (1.5 s) before the kill is present; the worst loss
//     window seen is reported. SIGKILL does not drop the kernel's page
//     cache, so this measures what the server had not yet written, not
//     what it had not yet fsynced (the vfs seam under aof tests that).
//
// The workload then continues from the state read: the expected state
// resets to it. Some kills follow a BGSAVE (or BGREWRITEAOF) issued right
// before, with the filler rewritten first so the checkpoint has work to
// do; INFO persistence is polled just before every kill and the report
// counts the kills that landed while rdb_bgsave_in_progress:1 (or
// aof_rewrite_in_progress:1). The server also runs with save "1 100", so
// scheduled checkpoints happen throughout.
//
// Two tests check the harness itself: TestHarnessDetectsLoss runs the
// crash loop against servers with persistence off and wants the loss
// reported, and TestCheckState feeds the post-restart check each kind of
// wrong state (lost, invented, gap, duplicate, reordering, changed filler,
// stray key, an everysec loss past the bound).
//
// Both servers run as subtests: "structd" (built from this module with
// redisproc.BuildStructD) and "redis-server" (the reference, which must
// pass; skipped with a message when it is not installed).
//
// The short form is the default and runs in CI under go test -race ./...:
// 25 kills after 20-300 ms of workload each, and 3 everysec kills after
// 2-2.6 s (about 35 s for both servers under -race on 2 cores). The full
// form is selected with flags, by hand (200 kills: about 4 minutes):
//
//	go test ./tests/crash -run TestCrash -crash.kills 200 -v
//	go test ./tests/crash -run TestCrash -crash.kills 200 -crash.duration 10m -v
//
// Flags:
//
//	-crash.seed N        seed of the random choices (0, the default: from the clock);
//	                     every run prints its seed, and a failure names it
//	-crash.kills N       kills per server in TestCrash (default 25)
//	-crash.duration D    spread the kills over about D of workload: the time
//	                     before each kill is drawn from 0.2-1.8 x D/kills
//	                     instead of 20-300 ms; the run also stops once D
//	                     has passed, even short of -crash.kills; each client
//	                     pauses 2 ms between batches so that the lists, read
//	                     whole after every restart, stay short enough
//	-crash.everysec N    kills per server in TestCrashEverysec (default 3)
//	-crash.target T      all (default), structd or redis
//
// A run is reproducible in its choices (which keys, pipeline depths, run
// lengths, which kills follow a BGSAVE) from its seed; where in the
// server's work a kill lands still depends on timing, which is the point.
package crash
