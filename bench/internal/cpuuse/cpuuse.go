// Package cpuuse says where a machine's CPU went during a bench run: the processes named
// (the nodes, the origin), Redis (its own INFO), the load tool, and the rest of the
// machine. On a shared machine "others" says how disturbed a run was. Linux only: /proc.
package cpuuse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux ABI in use.
const userHZ = 100

// Use is the average number of cores each party kept busy over the measured run.
type Use struct {
	NCPU         int      `json:"ncpu"`
	MachineCores float64  `json:"machine_cores"` // all of it, from /proc/stat
	Procs        []Proc   `json:"procs,omitempty"`
	RedisCores   *float64 `json:"redis_cores,omitempty"` // nil: not asked or not known
	ToolCores    float64  `json:"load_tool_cores"`
	// OthersCores is the machine's busy time that none of the above explains: other
	// processes, the kernel's own threads, the hypervisor's share.
	OthersCores float64 `json:"others_cores"`
}

// Proc is one process's share.
type Proc struct {
	Label string  `json:"label"`
	PID   int     `json:"pid"`
	Cores float64 `json:"cores"`
}

// Probe reads the counters before and after the run (Read), and compares them (Between).
type Probe struct {
	Labels   []string // one per PID, for the report
	PIDs     []int
	RedisURL string // redis://[:password@]host:port: also read its CPU (INFO cpu); "": none
}

// AddPID adds a process given as label=PID (a flag's value).
func (p *Probe) AddPID(v string) error {
	label, s, ok := strings.Cut(v, "=")
	pid, err := strconv.Atoi(s)
	if !ok || label == "" || err != nil || pid <= 0 {
		return fmt.Errorf("want label=PID, got %q", v)
	}
	p.Labels = append(p.Labels, label)
	p.PIDs = append(p.PIDs, pid)
	return nil
}

// Sample is the counters at one time, from Read.
type Sample struct {
	at          time.Time
	busy, total int64   // /proc/stat "cpu" line, ticks
	procs       []int64 // utime+stime per pid, ticks
	redis       float64 // seconds; <0: unknown
	ncpu        int
}

// Read takes a sample; it fails when a process is gone. Redis's CPU is left unknown when
// Redis does not answer.
func (p *Probe) Read() (Sample, error) {
	s := Sample{at: time.Now(), redis: -1}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	if s.busy, s.total, s.ncpu, err = ParseProcStat(string(b)); err != nil {
		return s, err
	}
	for _, pid := range p.PIDs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return s, fmt.Errorf("process %d: %w", pid, err)
		}
		t, err := ParsePidStat(string(b))
		if err != nil {
			return s, fmt.Errorf("process %d: %w", pid, err)
		}
		s.procs = append(s.procs, t)
	}
	if p.RedisURL != "" {
		if sec, err := RedisCPU(p.RedisURL); err == nil {
			s.redis = sec
		}
	}
	return s, nil
}

// Between is the cores each party used between a and b; tool is the load tool's own CPU
// over the same time (SelfCPU).
func (p *Probe) Between(a, b Sample, tool time.Duration) *Use {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return nil
	}
	cores := func(ticks int64) float64 { return float64(ticks) / userHZ / wall }
	u := &Use{NCPU: b.ncpu, MachineCores: cores(b.busy - a.busy), ToolCores: tool.Seconds() / wall}
	explained := u.ToolCores
	for i, pid := range p.PIDs {
		c := cores(b.procs[i] - a.procs[i])
		u.Procs = append(u.Procs, Proc{Label: p.Labels[i], PID: pid, Cores: c})
		explained += c
	}
	if a.redis >= 0 && b.redis >= 0 {
		c := (b.redis - a.redis) / wall
		u.RedisCores = &c
		explained += c
	}
	u.OthersCores = max(u.MachineCores-explained, 0)
	return u
}

// ParseProcStat returns the busy and total ticks of the "cpu" line of /proc/stat (busy:
// all but idle and iowait) and the number of "cpuN" lines.
func ParseProcStat(text string) (busy, total int64, ncpu int, err error) {
	found := false
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			ncpu++
			continue
		}
		if len(f) < 9 {
			return 0, 0, 0, fmt.Errorf("/proc/stat: short cpu line %q", line)
		}
		for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("/proc/stat: %w", err)
			}
			total += n
			if i != 3 && i != 4 {
				busy += n
			}
		}
		found = true
	}
	if !found {
		return 0, 0, 0, errors.New("/proc/stat: no cpu line")
	}
	return busy, total, ncpu, nil
}

// ParsePidStat returns utime+stime (fields 14 and 15 of proc(5)) in ticks.
func ParsePidStat(text string) (int64, error) {
	i := strings.LastIndexByte(text, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(text[i+1:])
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	var t int64
	for _, v := range f[11:13] { // fields 14 and 15, counted from the state (field 3)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		t += n
	}
	return t, nil
}

// RedisCPU asks the Redis at rawURL (redis://[:password@]host:port[/db]) for its own CPU
// time (INFO cpu: used_cpu_user + used_cpu_sys, all its threads), in seconds.
func RedisCPU(rawURL string) (float64, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "redis" {
		return 0, errors.New("want a redis:// URL")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	if pw, ok := u.User.Password(); ok || u.User.Username() != "" {
		args := []string{"AUTH", pw}
		if name := u.User.Username(); name != "" {
			args = []string{"AUTH", name, pw}
		}
		if _, err := redisDo(c, r, args...); err != nil {
			return 0, err
		}
	}
	info, err := redisDo(c, r, "INFO", "cpu")
	if err != nil {
		return 0, err
	}
	var sum float64
	var n int
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu: %s: %w", k, err)
			}
			sum += f
			n++
		}
	}
	if n != 2 {
		return 0, errors.New("INFO cpu: no used_cpu_user and used_cpu_sys")
	}
	return sum, nil
}

// redisDo sends one command and reads a simple, error or bulk string reply.
func redisDo(c net.Conn, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", errors.New("redis: " + line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 || n > 1<<20 {
			return "", fmt.Errorf("redis: bad reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

// SelfCPU is the CPU time this process has used so far, user and system.
func SelfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
