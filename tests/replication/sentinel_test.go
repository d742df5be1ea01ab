package replication_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/structd/structd/internal/redisproc"
	"github.com/structd/structd/internal/resp"
)

// sentinel is one redis-server --sentinel process watching a master.
type sentinel struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startSentinel runs Redis's Sentinel (redis-server --sentinel, with the
// configuration file it needs to keep its state) watching master as
// "mymaster" with quorum, and a second of silence before it counts a
// node down. A port found free can be taken before Sentinel binds it: it
// then exits, and the next attempt takes another port.
func startSentinel(t *testing.T, bin string, master *node, quorum int) *sentinel {
	t.Helper()
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		s, err := trySentinel(bin, dir, master.proc.Port, quorum)
		if err == nil {
			t.Cleanup(s.stop)
			t.Cleanup(func() {
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
					t.Logf("SENTINEL %s LOG:\n%s", s.addr, log)
				}
			})
			return s
		}
		if attempt == 4 {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Fatalf("sentinel did not start: %v\n%s", err, log)
		}
	}
}

// trySentinel starts one Sentinel on a free port and waits until it
// answers, or stops it and says why not.
func trySentinel(bin, dir string, masterPort, quorum int) (*sentinel, error) {
	port, err := redisproc.FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
		"sentinel monitor mymaster 127.0.0.1 %d %d\n"+
		"sentinel down-after-milliseconds mymaster 1000\n"+
		"sentinel failover-timeout mymaster 10000\n", port, dir, masterPort, quorum)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "sentinel.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	s := &sentinel{addr: "127.0.0.1:" + strconv.Itoa(port), cmd: exec.Command(bin, conf, "--sentinel"), done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(waitFor)
	for {
		err := redisproc.Ping(s.addr)
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("sentinel exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, err
		}
	}
}

// stop kills the Sentinel and waits for it.
func (s *sentinel) stop() {
	s.cmd.Process.Kill()
	<-s.done
}

func (s *sentinel) do(t *testing.T, args ...any) resp.Value {
	t.Helper()
	c, err := dial(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.do(args...)
	if err != nil {
		t.Fatalf("%v on sentinel %s: %v", args, s.addr, err)
	}
	return v
}

// masterPort is the port the sentinel gives for mymaster.
func (s *sentinel) masterPort(t *testing.T) string {
	v := s.do(t, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	if len(v.Elems) != 2 {
		return ""
	}
	return string(v.Elems[1].Str)
}

// TestSentinelFailover has three of Redis's Sentinels (quorum two) watch a
// StructD master and its StructD replica: they find the replica and each
// other through the master (INFO, the __sentinel__:hello channel), and
// when the master dies they promote the replica; the old master, back,
// becomes its replica. Each role change reaches the nodes as REPLICAOF
// inside MULTI/EXEC.
func TestSentinelFailover(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server): Sentinel is Redis's")
	}
	master := startNode(t)
	master.ok("SET", "k", "before")
	replica := replicaOf(t, master)
	var sentinels []*sentinel
	for range 3 {
		sentinels = append(sentinels, startSentinel(t, bin, master, 2))
	}
	eventually(t, "sentinels know the replica and each other", func() (bool, string) {
		for _, s := range sentinels {
			m := s.do(t, "SENTINEL", "MASTER", "mymaster")
			fields := map[string]string{}
			for i := 0; i+1 < len(m.Elems); i += 2 {
				fields[string(m.Elems[i].Str)] = string(m.Elems[i+1].Str)
			}
			if fields["num-slaves"] != "1" || fields["num-other-sentinels"] != "2" {
				return false, fmt.Sprintf("sentinel %s: %v", s.addr, fields)
			}
		}
		return true, ""
	})

	oldPort := master.proc.Port
	syscall.Kill(master.proc.Pid(), syscall.SIGKILL)
	master.proc.Stop()
	master.proc = nil
	newPort := strconv.Itoa(replica.proc.Port)
	eventually(t, "the sentinels promote the replica", func() (bool, string) {
		for _, s := range sentinels {
			if p := s.masterPort(t); p != newPort {
				return false, fmt.Sprintf("sentinel %s names port %s", s.addr, p)
			}
		}
		ri := replica.info("replication")
		return ri["role"] == "master", fmt.Sprint(ri)
	})
	replica.ok("SET", "k", "after")

	// The old master comes back on its port and is turned into a replica
	// of the new one.
	restartOnPort(t, master, oldPort)
	eventually(t, "the old master follows the new one", func() (bool, string) {
		mi := master.info("replication")
		return mi["role"] == "slave" && mi["master_port"] == newPort && mi["master_link_status"] == "up", fmt.Sprint(mi)
	})
	eventually(t, "the old master has the new master's data", func() (bool, string) {
		v := master.do("GET", "k")
		return string(v.Str) == "after", string(v.Str)
	})
}

// restartOnPort starts n's process again on port, which it had before (a
// Sentinel knows nodes by address). The port was freed when the process
// died; another process could take it meanwhile, and then the test fails
// to start rather than waits.
func restartOnPort(t *testing.T, n *node, port int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		p, err := redisproc.StartOnPort(binary(t), n.base, port, n.commandLine()...)
		if err == nil {
			n.proc = p
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
