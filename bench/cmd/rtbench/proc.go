package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The servers' memory and CPU, from /proc (Linux only): each -pid process with all its
// descendants, so that Pushpin's runner brings condure, zurl, pushpin-proxy and
// pushpin-handler along.

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux ABI in use.
const userHZ = 100

// ProcMem is one process's resident memory at one reading.
type ProcMem struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	RSSKB int64  `json:"rss_kb"`
}

// Reading is the memory and CPU of every server process at one moment.
type Reading struct {
	RSSKB    int64     `json:"rss_kb"`
	CPUTicks int64     `json:"cpu_ticks"`
	Procs    []ProcMem `json:"procs"`
}

type procInfo struct {
	ppid  int
	comm  string
	ticks int64
}

// readProcs reads every process's parent, command and CPU ticks.
func readProcs() (map[int]procInfo, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	m := map[int]procInfo{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		pi, err := parseStat(string(b))
		if err != nil {
			continue
		}
		m[pid] = pi
	}
	return m, nil
}

// parseStat reads the command, parent and utime+stime of a /proc/PID/stat line.
func parseStat(text string) (procInfo, error) {
	i := strings.IndexByte(text, '(')
	j := strings.LastIndexByte(text, ')') // the command may hold spaces and parentheses
	if i < 0 || j < i {
		return procInfo{}, errors.New("stat: no command")
	}
	f := strings.Fields(text[j+1:])
	if len(f) < 13 {
		return procInfo{}, errors.New("stat: too few fields")
	}
	ppid, err := strconv.Atoi(f[1]) // field 4
	if err != nil {
		return procInfo{}, err
	}
	var ticks int64
	for _, v := range f[11:13] { // fields 14 and 15
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return procInfo{}, err
		}
		ticks += n
	}
	return procInfo{ppid: ppid, comm: text[i+1 : j], ticks: ticks}, nil
}

// vmRSS is VmRSS of /proc/PID/status in kB.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("process %d: no VmRSS", pid)
}

// readServers sums the memory and CPU of the roots and their descendants.
func readServers(roots []labeledPID) (Reading, error) {
	var r Reading
	if len(roots) == 0 {
		return r, nil
	}
	procs, err := readProcs()
	if err != nil {
		return r, err
	}
	children := map[int][]int{}
	for pid, pi := range procs {
		children[pi.ppid] = append(children[pi.ppid], pid)
	}
	seen := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, root := range roots {
		if _, ok := procs[root.PID]; !ok {
			return r, fmt.Errorf("process %d (%s) is not running", root.PID, root.Label)
		}
		walk(root.PID)
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	for _, pid := range pids {
		rss, err := vmRSS(pid)
		if err != nil {
			continue // exited meanwhile, or a zombie without memory
		}
		r.RSSKB += rss
		r.CPUTicks += procs[pid].ticks
		r.Procs = append(r.Procs, ProcMem{PID: pid, Comm: procs[pid].comm, RSSKB: rss})
	}
	return r, nil
}

// ownCPUTicks is this process's CPU time in ticks.
func ownCPUTicks() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	pi, err := parseStat(string(b))
	if err != nil {
		return 0
	}
	return pi.ticks
}

// machineBusyTicks is the machine's busy time from the "cpu" line of /proc/stat: all but
// idle and iowait, in ticks.
func machineBusyTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy
}
