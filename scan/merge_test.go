package scan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rawkit/rawkit/report"
)

// shardFiles runs the scan in n shards (--all --json) and writes each
// output to a file.
func shardFiles(t *testing.T, n int, seed uint64, targets ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i := range n {
		out := mustScan(t, labNet(), Options{JSON: true, All: true, Seed: seed, Shard: Shard{I: uint64(i), N: uint64(n)}, SkipDiscovery: true}, targets...)
		f := filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))
		os.WriteFile(f, []byte(out), 0o644)
		files = append(files, f)
	}
	return files
}

func TestMergeEqualsTheWholeScan(t *testing.T) {
	targets := []string{server.String(), dark.String(), server6.String()}
	whole, _ := jsonStates(t, mustScan(t, labNet(), Options{JSON: true, All: true, SkipDiscovery: true}, targets...))
	files := shardFiles(t, 3, 11, targets...)
	var out, stderr bytes.Buffer
	if err := Merge(MergeOptions{Files: files}, &out, &stderr); err != nil {
		t.Fatalf("%v %s", err, stderr.String())
	}
	merged, sum := jsonStates(t, out.String())
	if fmt.Sprint(merged) != fmt.Sprint(whole) {
		t.Errorf("merged %v\nwhole %v", merged, whole)
	}
	if sum["complete"] != true || sum["shard"] != "all/3" || sum["open"] != 3.0 {
		t.Errorf("merged summary %v", sum)
	}
	// nmap's normal output of the merge is the whole scan's, times aside.
	var normal bytes.Buffer
	if err := Merge(MergeOptions{Files: files, NormalFile: "-"}, &normal, &stderr); err != nil {
		t.Fatal(err)
	}
	direct, _, _ := scan(t, labNet(), Options{NormalFile: "-", SkipDiscovery: true}, targets...)
	mask := regexp.MustCompile(`(?m)^# .*$|\([0-9.]+s latency\)`)
	if a, b := mask.ReplaceAllString(normal.String(), "T"), mask.ReplaceAllString(direct, "T"); a != b {
		t.Errorf("merged -oN -:\n%s\nwhole scan:\n%s", a, b)
	}
}

func TestMergeRefusesGapsAndStrangers(t *testing.T) {
	files := shardFiles(t, 3, 11, server.String())
	var out, stderr bytes.Buffer
	err := Merge(MergeOptions{Files: []string{files[0], files[2]}}, &out, &stderr)
	if report.ExitCode(err) != report.ExitNetwork || !strings.Contains(err.Error(), "shard 1 of 3 (0-based) missing") {
		t.Errorf("a missing shard: %v", err)
	}
	other := shardFiles(t, 3, 12, server.String())
	err = Merge(MergeOptions{Files: []string{files[0], other[1], files[2]}}, &out, &stderr)
	if report.ExitCode(err) != report.ExitUsage || !strings.Contains(err.Error(), "seed") {
		t.Errorf("a shard of another seed: %v", err)
	}
	stranger := shardFiles(t, 3, 11, dark.String())
	err = Merge(MergeOptions{Files: []string{files[0], stranger[1], files[2]}}, &out, &stderr)
	if report.ExitCode(err) != report.ExitUsage || !strings.Contains(err.Error(), "another scan") {
		t.Errorf("a shard of other targets: %v", err)
	}
	// A shard twice (a retried pod): once.
	out.Reset()
	if err := Merge(MergeOptions{Files: append(files, files[1])}, &out, &stderr); err != nil || !strings.Contains(stderr.String(), "shard 1 twice") {
		t.Errorf("a shard twice: %v %q", err, stderr.String())
	}
	// Not a portscan output, or cut before its end.
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, []byte(`{"v":1,"tool":"ping","type":"summary"}`+"\n"), 0o644)
	cut := filepath.Join(t.TempDir(), "cut")
	b, _ := os.ReadFile(files[1])
	os.WriteFile(cut, b[:bytes.Index(b, []byte(`"type":"manifest"`))-30], 0o644)
	for _, f := range []string{junk, cut, "/nonexistent"} {
		if err := Merge(MergeOptions{Files: []string{files[0], f, files[2]}}, &out, &stderr); report.ExitCode(err) != report.ExitUsage {
			t.Errorf("%s: %v", f, err)
		}
	}
}
