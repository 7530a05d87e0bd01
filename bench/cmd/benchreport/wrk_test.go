package main

import (
	"strings"
	"testing"
	"time"
)

const wrkClean = `Running 10s test @ http://127.0.0.1:18181/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   472.38us  269.45us   6.48ms   94.23%
    Req/Sec    73.42k    12.30k   84.98k    64.52%
  Latency Distribution
     50%  404.00us
     75%  525.00us
     90%  653.00us
     99%    1.10ms
  226278 requests in 3.10s, 33.02MB read
Requests/sec:  72923.51
Transfer/sec:     10.64MB
`

// wrkTimeouts is real output from a run on an overloaded machine: note "1.10s " with its
// trailing space, and the socket error line.
const wrkTimeouts = `Running 3s test @ http://127.0.0.1:42825/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   177.85ms  328.35ms   1.10s    84.77%
    Req/Sec     3.08k     5.25k    9.14k    66.67%
  Latency Distribution
     50%    7.01ms
     75%  265.87ms
     90%  887.21ms
     99%    1.10s 
  1069 requests in 3.31s, 150.33KB read
  Socket errors: connect 0, read 0, write 0, timeout 64
Requests/sec:    322.56
Transfer/sec:     45.36KB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    wrkResult
		wantErr string // substring; empty: no error
	}{
		{name: "clean", in: wrkClean, want: wrkResult{
			Requests: 226278, Duration: 3100 * time.Millisecond, RPS: 72923.51,
			P50: 404 * time.Microsecond, P75: 525 * time.Microsecond, P90: 653 * time.Microsecond, P99: 1100 * time.Microsecond,
		}},
		{name: "socket errors", in: wrkTimeouts, want: wrkResult{
			Requests: 1069, Duration: 3310 * time.Millisecond, RPS: 322.56,
			P50: 7010 * time.Microsecond, P75: 265870 * time.Microsecond, P90: 887210 * time.Microsecond, P99: 1100 * time.Millisecond,
			TimeoutErr: 64,
		}},
		{name: "non-2xx", in: strings.Replace(wrkClean, "Requests/sec:", "  Non-2xx or 3xx responses: 12\nRequests/sec:", 1),
			want: wrkResult{
				Requests: 226278, Duration: 3100 * time.Millisecond, RPS: 72923.51,
				P50: 404 * time.Microsecond, P75: 525 * time.Microsecond, P90: 653 * time.Microsecond, P99: 1100 * time.Microsecond,
				Non2xx: 12,
			}},
		{name: "no --latency", in: strings.Split(wrkClean, "  Latency Distribution")[0] + "  226278 requests in 3.10s, 33.02MB read\nRequests/sec:  72923.51\n",
			wantErr: "Latency Distribution"},
		{name: "empty", in: "", wantErr: "requests in"},
		{name: "connection refused", in: "unable to connect to 127.0.0.1:1 Connection refused\n", wantErr: "Requests/sec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWrkErrors(t *testing.T) {
	r := wrkResult{Non2xx: 1, ReadErr: 2, TimeoutErr: 3}
	if got := r.Errors(); got != 6 {
		t.Errorf("Errors() = %d, want 6", got)
	}
	if got, want := r.ErrorSummary(), "1 non-2xx/3xx responses, 2 read errors, 3 timeouts"; got != want {
		t.Errorf("ErrorSummary() = %q, want %q", got, want)
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkClean)
	f.Add(wrkTimeouts)
	f.Add("  Latency Distribution\n     50%  1.0xs\n")
	f.Add("  99999999999999999999999 requests in 1s, 0B read\nRequests/sec: 1e400\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseWrk(s)
		if err == nil && (r.P50 == 0 && !strings.Contains(s, "50%")) {
			t.Errorf("no error, yet no 50%% line in %q", s)
		}
	})
}
