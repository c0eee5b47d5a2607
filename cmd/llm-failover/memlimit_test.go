package main

import (
	"io"
	"io/fs"
	"log/slog"
	"testing"
)

// The Go runtime gets 90% of the cgroup's memory limit, unless GOMEMLIMIT
// is set or the cgroup has no limit.
func TestApplyMemoryLimit_NinetyPercentOfTheCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   string
		files map[string]string
		want  int64
	}{
		{"v2 in a container", "", map[string]string{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "536870912\n"}, 483183820},
		{"v2 nested cgroup", "", map[string]string{"/proc/self/cgroup": "0::/kubepods/pod1/c1\n", "/sys/fs/cgroup/kubepods/pod1/c1/memory.max": "1073741824\n"}, 966367641},
		{"v2 no limit", "", map[string]string{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n"}, 0},
		{"v1 limit", "", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "268435456\n"}, 241591910},
		{"v1 nested cgroup", "", map[string]string{"/proc/self/cgroup": "4:memory:/process_api/abc\n0::/\n", "/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": "2147483648\n"}, 1932735283},
		{"v1 unlimited", "", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"no cgroup files", "", map[string]string{}, 0},
		{"GOMEMLIMIT set", "300MiB", map[string]string{"/sys/fs/cgroup/memory.max": "536870912\n"}, 0},
		{"garbage", "", map[string]string{"/sys/fs/cgroup/memory.max": "lots\n"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var set int64
			got := applyMemoryLimit(
				func(k string) string {
					if k == "GOMEMLIMIT" {
						return tc.env
					}
					return ""
				},
				func(name string) ([]byte, error) {
					if v, ok := tc.files[name]; ok {
						return []byte(v), nil
					}
					return nil, fs.ErrNotExist
				},
				func(n int64) int64 { set = n; return 0 },
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if got != tc.want || set != tc.want {
				t.Errorf("limit %d (set %d), want %d", got, set, tc.want)
			}
		})
	}
}
