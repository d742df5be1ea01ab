// Package differential replays a corpus of command sequences against StructD
// and a real redis-server and compares every reply exactly: RESP type and
// value, RESP2 or RESP3.
//
// Corpus files are testdata/<family>.txt:
//
//	# comment
//	=== case name (unique within the file)
//	SET k "a\x00b\r\n"        a command, split with redis-cli quoting
//	!sort SMEMBERS s          unordered reply: compare after sorting the elements
//	!type TIME                compare only the reply's type (and aggregate length)
//	!scan SCAN 0 MATCH k*     iterate the cursor to 0, compare the sorted union
//	!sleep 20                 sleep 20 ms
//	!raw "PING\r\n*1\r\n"     send raw bytes, half-close, compare every reply up
//	                          to the server's close; the case then continues on
//	                          a fresh connection
//	!raw "*1\r\n$" "9" * 70000  pieces are concatenated; "*" N repeats the
//	                          piece before it N times in all
//	!reconnect                continue the case on fresh connections
//
// Each case runs on fresh connections after FLUSHALL on both servers. The
// "id" field of HELLO replies is not compared (client ids count connections),
// only its type.
package differential

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/structd/structd/internal/resp"
)

// StepKind says how a step's reply is compared.
type StepKind int

// The step kinds, one per corpus directive.
const (
	StepCommand   StepKind = iota // exact comparison
	StepSort                      // compare after sorting aggregate elements
	StepType                      // compare RESP type and aggregate length only
	StepScan                      // iterate a SCAN-family cursor, compare the union
	StepSleep                     // pause Millis
	StepRaw                       // send Raw, half-close, compare all replies
	StepReconnect                 // replace the case's connections
)

// maxSleepMillis bounds !sleep: a case waits for an expiry, never for luck.
const maxSleepMillis = 2000

// Step is one line of a case.
type Step struct {
	Kind   StepKind
	Line   int      // line number in the corpus file
	Text   string   // the line as written
	Args   [][]byte // the command (command, sort, type, scan)
	Raw    []byte   // the bytes of !raw
	Millis int      // the duration of !sleep
}

// Case is one named sequence of steps.
type Case struct {
	File  string // base name without .txt
	Name  string
	Line  int
	Steps []Step
}

// LoadCorpus parses every testdata/*.txt file under dir, in name order.
func LoadCorpus(dir string) ([]Case, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	var all []Case
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		cases, err := ParseCorpus(strings.TrimSuffix(filepath.Base(p), ".txt"), f)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, cases...)
	}
	return all, nil
}

// ParseCorpus parses one corpus file. It rejects lines outside a case,
// unknown directives, malformed quoting, empty cases and duplicate names.
func ParseCorpus(file string, r io.Reader) ([]Case, error) {
	var cases []Case
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	line := 0
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s.txt:%d: %s", file, line, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if name, ok := strings.CutPrefix(trimmed, "==="); ok {
			name = strings.TrimSpace(name)
			if name == "" {
				return nil, fail("case without a name")
			}
			if prev, dup := seen[name]; dup {
				return nil, fail("case %q already defined at line %d", name, prev)
			}
			seen[name] = line
			cases = append(cases, Case{File: file, Name: name, Line: line})
			continue
		}
		if len(cases) == 0 {
			return nil, fail("line before the first '=== case'")
		}
		step, err := parseStep(trimmed)
		if err != nil {
			return nil, fail("%v", err)
		}
		step.Line = line
		c := &cases[len(cases)-1]
		c.Steps = append(c.Steps, step)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s.txt: %w", file, err)
	}
	for _, c := range cases {
		if len(c.Steps) == 0 {
			return nil, fmt.Errorf("%s.txt:%d: case %q has no steps", file, c.Line, c.Name)
		}
	}
	return cases, nil
}

var directives = map[string]StepKind{
	"!sort": StepSort, "!type": StepType, "!scan": StepScan,
	"!sleep": StepSleep, "!raw": StepRaw, "!reconnect": StepReconnect,
}

func parseStep(text string) (Step, error) {
	step := Step{Kind: StepCommand, Text: text}
	rest := text
	if strings.HasPrefix(text, "!") {
		word, after, _ := strings.Cut(text, " ")
		kind, ok := directives[word]
		if !ok {
			return step, fmt.Errorf("unknown directive %q", word)
		}
		step.Kind, rest = kind, strings.TrimSpace(after)
	}
	args, ok := resp.SplitArgs([]byte(rest), nil)
	if !ok {
		return step, fmt.Errorf("unbalanced quotes in %q", text)
	}
	switch step.Kind {
	case StepReconnect:
		if len(args) != 0 {
			return step, fmt.Errorf("!reconnect takes no arguments")
		}
	case StepSleep:
		ms, err := strconv.Atoi(rest)
		if err != nil || ms < 0 || ms > maxSleepMillis {
			return step, fmt.Errorf("!sleep wants milliseconds from 0 to %d, got %q", maxSleepMillis, rest)
		}
		step.Millis = ms
	case StepRaw:
		raw, err := rawBytes(args)
		if err != nil {
			return step, err
		}
		step.Raw = raw
	case StepScan:
		if len(args) < scanCursorIndex(args)+1 {
			return step, fmt.Errorf("!scan wants a SCAN, SSCAN, HSCAN or ZSCAN command with its cursor")
		}
		step.Args = args
	default:
		if len(args) == 0 {
			return step, fmt.Errorf("empty command")
		}
		step.Args = args
	}
	return step, nil
}

// maxRawBytes bounds what one !raw sends.
const maxRawBytes = 64 << 20

// rawBytes concatenates the pieces of a !raw line, where "*" followed by a
// count N makes the piece before it appear N times in all.
func rawBytes(pieces [][]byte) ([]byte, error) {
	var raw []byte
	var last []byte
	for i := 0; i < len(pieces); i++ {
		p := pieces[i]
		if string(p) == "*" && i+1 < len(pieces) && last != nil {
			n, err := strconv.Atoi(string(pieces[i+1]))
			if err != nil || n < 1 || len(raw)+(n-1)*len(last) > maxRawBytes {
				return nil, fmt.Errorf("!raw: bad repeat count %q", pieces[i+1])
			}
			raw = append(raw, bytes.Repeat(last, n-1)...)
			i++
			last = nil
			continue
		}
		raw = append(raw, p...)
		last = p
	}
	if len(raw) == 0 || len(raw) > maxRawBytes {
		return nil, fmt.Errorf("!raw wants quoted bytes, at most %d of them", maxRawBytes)
	}
	return raw, nil
}

// scanCursorIndex is the position of the cursor argument: SCAN cursor, or
// xSCAN key cursor.
func scanCursorIndex(args [][]byte) int {
	if len(args) > 0 && strings.EqualFold(string(args[0]), "scan") {
		return 1
	}
	return 2
}
