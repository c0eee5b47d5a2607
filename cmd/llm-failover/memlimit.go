package main

import (
	"log/slog"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// memLimitShare is the part of the container's memory limit given to the
// Go runtime as its soft limit: the rest covers what the runtime does not
// count (thread stacks beyond the heap's accounting, the binary, page cache
// of the log files) so the GC works harder before the kernel's OOM killer
// would act (docs/performance.md, "Memory").
const memLimitShare = 0.9

// setMemoryLimit gives the Go runtime a soft memory limit of 90% of the
// cgroup's memory limit when GOMEMLIMIT is not set: Go reads the CPU limit
// of its cgroup for GOMAXPROCS (Go 1.25+) but never its memory limit. It
// returns the limit set, or 0 (no cgroup limit, or GOMEMLIMIT given).
func setMemoryLimit(log *slog.Logger) int64 {
	return applyMemoryLimit(os.Getenv, os.ReadFile, debug.SetMemoryLimit, log)
}

func applyMemoryLimit(getenv func(string) string, read func(string) ([]byte, error), set func(int64) int64, log *slog.Logger) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0 // the operator's choice, applied by the runtime at start
	}
	limit, file := cgroupMemoryLimit(read)
	if limit <= 0 {
		return 0
	}
	soft := int64(float64(limit) * memLimitShare)
	set(soft)
	log.Info("Go memory limit set from the cgroup", "cgroup_limit_bytes", limit, "file", file, "gomemlimit_bytes", soft)
	return soft
}

// cgroupMemoryLimit reads the memory limit of the process's cgroup: the
// cgroup /proc/self/cgroup names (v2 memory.max, v1 memory controller's
// memory.limit_in_bytes), else the namespace root's, as containers see it. "max", a
// missing file or v1's "unlimited" (a page-rounded 2^63-1) give 0.
func cgroupMemoryLimit(read func(string) ([]byte, error)) (int64, string) {
	var files []string
	if b, err := read("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			_, rest, _ := strings.Cut(line, ":")
			controllers, p, _ := strings.Cut(rest, ":")
			if !strings.HasPrefix(p, "/") {
				continue
			}
			switch {
			case controllers == "":
				files = append(files, path.Join("/sys/fs/cgroup", p, "memory.max"))
			case slices.Contains(strings.Split(controllers, ","), "memory"):
				files = append(files, path.Join("/sys/fs/cgroup/memory", p, "memory.limit_in_bytes"))
			}
		}
	}
	files = append(files, "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
	for _, f := range files {
		b, err := read(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, f
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0, f
		}
		return n, f
	}
	return 0, ""
}
