package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100
// on every Linux architecture Go runs on (the kernel ABI's clock_t).
const userHZ = 100

// counters is one reading of the server's and the generator's costs.
type counters struct {
	at         time.Time
	serverCPU  float64 // seconds of user+system time of the server
	genCPU     float64 // seconds of user+system time of this process
	mallocs    float64 // the server's Go heap objects allocated so far
	allocBytes float64
	gcs        float64
	metrics    bool
}

func snapshot(pid int, metricsURL, pprofURL string) (counters, error) {
	c := counters{at: time.Now()}
	if pid > 0 {
		cpu, err := ProcessCPU(pid)
		if err != nil {
			return c, err
		}
		c.serverCPU = cpu.Seconds()
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		c.genCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if metricsURL != "" {
		m, err := scrape(metricsURL)
		if err != nil {
			return c, err
		}
		c.mallocs, c.allocBytes, c.gcs, c.metrics = m["go_memstats_mallocs_total"], m["go_memstats_alloc_bytes_total"], m["go_gc_duration_seconds_count"], true
	}
	if pprofURL != "" {
		m, err := memStats(pprofURL)
		if err != nil {
			return c, err
		}
		c.mallocs, c.allocBytes, c.gcs, c.metrics = m["Mallocs"], m["TotalAlloc"], m["NumGC"], true
	}
	return c, nil
}

// ProcessCPU reads a process's user+system CPU time from /proc/<pid>/stat
// (fields 14 and 15, utime and stime, in USER_HZ ticks; all its threads).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime+stime from the text of a /proc/<pid>/stat file.
func parseStat(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses: the last ')' ends it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields, want at least 15", len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 63)
	st, err2 := strconv.ParseUint(f[12], 10, 63)
	if err1 != nil || err2 != nil || ut+st > math.MaxInt64/uint64(time.Second) {
		return 0, fmt.Errorf("/proc stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// PIDListening finds the process listening on addr (a TCP host:port, or
// unix:/path): the socket's inode from /proc/net, then the process with a
// file descriptor on it.
func PIDListening(addr string) (int, error) {
	inodes := map[string]bool{}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		b, err := os.ReadFile("/proc/net/unix")
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 8 && f[7] == path {
				inodes[f[6]] = true
			}
		}
	} else {
		_, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return 0, err
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("port %q: %w", portText, err)
		}
		for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			b, err := os.ReadFile(table)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				// sl local_address rem_address st ... inode (field 10)
				if len(f) < 10 || f[3] != "0A" {
					continue
				}
				if i := strings.LastIndexByte(f[1], ':'); i >= 0 {
					if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && p == port {
						inodes[f[9]] = true
					}
				}
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listening on %s", addr)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
			if err == nil {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process of ours has the socket listening on %s open", addr)
}

// scrape reads the unlabelled samples of a Prometheus text exposition.
func scrape(url string) (map[string]float64, error) {
	out := map[string]float64{}
	err := lines(url, func(line string) {
		if line == "" || line[0] == '#' {
			return
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') {
			return
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			out[name] = v
		}
	})
	return out, err
}

// lines calls f with each line of url's body.
func lines(url string, f func(string)) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 256<<20))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		f(sc.Text())
	}
	return sc.Err()
}

// memStats reads the runtime.MemStats a Go server prints at the end of its
// heap profile in text form (net/http/pprof: <base>/allocs?debug=1, lines
// "# Mallocs = N").
func memStats(base string) (map[string]float64, error) {
	url := strings.TrimSuffix(base, "/") + "/allocs?debug=1"
	out := map[string]float64{}
	err := lines(url, func(line string) {
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if !ok {
			return
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	})
	if err != nil {
		return nil, err
	}
	if _, ok := out["Mallocs"]; !ok {
		return nil, fmt.Errorf("%s: no runtime.MemStats in the heap profile", url)
	}
	return out, nil
}
