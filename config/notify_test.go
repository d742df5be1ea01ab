package config

import "testing"

func TestKeyspaceEventsForms(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "KEA": "AKE", "AKEn": "AKE", "gK": "gK", "E$lshzxetdnm": "$lshzxetdnEm",
		"Kn": "nK", "x": "x", "gggK": "gK", "g$lshzxetdK": "AK",
	} {
		flags, err := ParseKeyspaceEvents(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := KeyspaceEventsString(flags); got != want {
			t.Errorf("%q reads back as %q, want %q", in, got, want)
		}
	}
	if _, err := ParseKeyspaceEvents("KEq"); err == nil {
		t.Error("KEq accepted")
	}
}

func TestOutputBufferLimitDirective(t *testing.T) {
	c := Default()
	for _, args := range [][]string{
		{"pubsub 2mb 1mb 5"},
		{"pubsub", "2mb", "1mb", "5"},
	} {
		if err := c.Apply("client-output-buffer-limit", args); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if got := c.OutputBufferLimits[ClientPubSub]; got != (OutputBufferLimit{Hard: 2 << 20, Soft: 1 << 20, SoftSeconds: 5}) {
			t.Fatalf("%q: pubsub limit %+v", args, got)
		}
		if got := c.Limits().OutputBufferLimits[ClientNormal]; got != (OutputBufferLimit{}) {
			t.Fatalf("%q: normal limit changed to %+v", args, got)
		}
	}
	for _, bad := range [][]string{{"normal 1 2"}, {"master 1 2 3"}, {"normal x 2 3"}, {"normal 1 2 -3"}} {
		if err := c.Apply("client-output-buffer-limit", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
