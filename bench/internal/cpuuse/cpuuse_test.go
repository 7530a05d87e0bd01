package cpuuse

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	text := "cpu  100 5 50 1000 10 1 4 2 0 0\ncpu0 50 0 25 500 5 0 2 1 0 0\ncpu1 50 5 25 500 5 1 2 1 0 0\nintr 1 2\n"
	busy, total, ncpu, err := ParseProcStat(text)
	if err != nil || busy != 100+5+50+1+4+2 || total != busy+1000+10 || ncpu != 2 {
		t.Errorf("ParseProcStat = %d, %d, %d, %v", busy, total, ncpu, err)
	}
	for _, bad := range []string{"", "cpu 1 2 3\n", "cpu 1 2 3 4 5 6 7 x\n"} {
		if _, _, _, err := ParseProcStat(bad); err == nil {
			t.Errorf("ParseProcStat(%q): no error", bad)
		}
	}
	ticks, err := ParsePidStat("42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 170 30 0 0 20\n")
	if err != nil || ticks != 200 {
		t.Errorf("ParsePidStat = %d, %v; want 200", ticks, err)
	}
}

func TestCPUProbe(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	p := &Probe{Labels: []string{"self"}, PIDs: []int{os.Getpid()}}
	a, err := p.Read()
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	b, err := p.Read()
	if err != nil {
		t.Fatal(err)
	}
	u := p.Between(a, b, 0)
	if u == nil || u.NCPU < 1 || u.MachineCores < 0 || len(u.Procs) != 1 || u.Procs[0].Cores < 0 || u.RedisCores != nil {
		t.Errorf("Between = %+v", u)
	}
}

// TestRedisCPU talks to a fake Redis: AUTH with the URL's password, then INFO cpu.
func TestRedisCPU(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		readCmd := func() []string {
			var args []string
			line, _ := r.ReadString('\n')
			var n int
			if _, err := fmt.Sscanf(line, "*%d", &n); err != nil {
				return nil
			}
			for range n {
				r.ReadString('\n')
				a, _ := r.ReadString('\n')
				args = append(args, strings.TrimRight(a, "\r\n"))
			}
			return args
		}
		if args := readCmd(); len(args) != 2 || args[0] != "AUTH" || args[1] != "pw" {
			c.Write([]byte("-ERR want AUTH pw\r\n"))
			return
		}
		c.Write([]byte("+OK\r\n"))
		if args := readCmd(); len(args) != 2 || args[0] != "INFO" {
			c.Write([]byte("-ERR want INFO\r\n"))
			return
		}
		body := "# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:2.500000\r\nused_cpu_sys_children:0.000000\r\n"
		c.Write([]byte("$" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n"))
	}()
	got, err := RedisCPU("redis://:pw@" + ln.Addr().String() + "/0")
	if err != nil || got != 3.75 {
		t.Errorf("RedisCPU = %v, %v; want 3.75", got, err)
	}
}

func TestAddPID(t *testing.T) {
	var p Probe
	if err := p.AddPID("node=42"); err != nil || p.Labels[0] != "node" || p.PIDs[0] != 42 {
		t.Errorf("AddPID(node=42): %v, %+v", err, p)
	}
	for _, bad := range []string{"42", "=42", "node=", "node=-1", "node=x"} {
		if err := p.AddPID(bad); err == nil {
			t.Errorf("AddPID(%q): no error", bad)
		}
	}
}
