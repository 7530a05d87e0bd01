package webtest

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// killLeftovers kills the processes that still have --user-data-dir=profile on their
// command line after the browser exited: helpers (zygote, renderer, network service) can
// outlive it for a moment and would write into the profile while it is being removed.
// Chromium passes the flag to every helper and the directory is unique to one Browser, so
// this ends that browser's processes and nobody else's. It reads /proc, so it does nothing
// where there is none.
func killLeftovers(profile string) {
	want := []byte("--user-data-dir=" + profile)
	deadline := time.Now().Add(5 * time.Second)
	for quiet := 0; quiet < 2 && time.Now().Before(deadline); {
		if killUsing(want) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if quiet < 2 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func killUsing(arg []byte) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for a := range bytes.SplitSeq(cmdline, []byte{0}) {
			if bytes.Equal(a, arg) {
				if p, err := os.FindProcess(pid); err == nil && p.Kill() == nil {
					n++
				}
				break
			}
		}
	}
	return n
}

// removeAllRetry removes the profile, retrying briefly: a helper killed a moment ago may
// still have been writing into it.
func removeAllRetry(dir string) {
	for i := 0; i < 20; i++ {
		if os.RemoveAll(dir) == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
