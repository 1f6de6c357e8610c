package repocheck

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const root = "../.."

// Every fuzz test is in "make fuzz", and each gets its minimization bounded
// so that it fuzzes for its whole FUZZTIME.
func TestFuzzTargetsInMakefile(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{} // "./dir FuzzName" -> line
	re := regexp.MustCompile(`-fuzz '\^(Fuzz\w+)\$\$'.* (\./\S+)\s*$`)
	for _, l := range strings.Split(string(mk), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			lines[m[2]+" "+m[1]] = l
		}
	}
	if len(lines) == 0 {
		t.Fatal("no fuzz targets in the Makefile")
	}
	fuzzRE := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	found := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return fs.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, _ := os.ReadFile(path)
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range fuzzRE.FindAllStringSubmatch(string(b), -1) {
			found++
			key := "./" + rel + " " + m[1]
			l, ok := lines[key]
			if !ok {
				t.Errorf("%s (%s) is not in make fuzz", m[1], path)
				continue
			}
			if !strings.Contains(l, "-fuzzminimizetime $(FUZZMINIMIZETIME)") {
				t.Errorf("make fuzz: %s runs without -fuzzminimizetime: %s", m[1], l)
			}
		}
		return nil
	})
	if found != len(lines) {
		t.Errorf("%d fuzz tests in the tree, %d in make fuzz", found, len(lines))
	}
}

func needMake(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	if testing.Short() {
		t.Skip("builds mailsift")
	}
}

// make install puts the binary, the example config and the unit where
// PREFIX and DESTDIR say, the unit naming the installed binary; a second
// install keeps the config an administrator edited.
func TestMakeInstall(t *testing.T) {
	needMake(t)
	dest := t.TempDir()
	install := func() string {
		out, err := exec.Command("make", "-C", root, "install", "DESTDIR="+dest, "PREFIX=/usr").CombinedOutput()
		if err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	bin := filepath.Join(dest, "usr/bin/mailsift")
	if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("binary: %v %v", fi, err)
	}
	cfg := filepath.Join(dest, "etc/mailsift/mailsift.toml")
	want, _ := os.ReadFile(filepath.Join(root, "contrib/mailsift.toml"))
	if got, err := os.ReadFile(cfg); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("config: %v", err)
	}
	if fi, _ := os.Stat(cfg); fi.Mode().Perm() != 0o640 {
		t.Fatalf("config mode %v, want 0640 (it may hold secrets)", fi.Mode().Perm())
	}
	unit, err := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/mailsift.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"ExecStartPre=/usr/bin/mailsift config check -c /etc/mailsift/mailsift.toml", "ExecStart=/usr/bin/mailsift run -c /etc/mailsift/mailsift.toml"} {
		if !strings.Contains(string(unit), l+"\n") {
			t.Errorf("unit lacks %q", l)
		}
	}
	// The version comes from the tag (git describe).
	describe, err := exec.Command("git", "-C", root, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Skipf("git describe: %v", err)
	}
	if out, _ := exec.Command(bin, "version").Output(); string(out) != "mailsift "+string(describe) {
		t.Errorf("version = %q, want %q", out, "mailsift "+string(describe))
	}

	os.WriteFile(cfg, []byte("# edited\n"), 0o640)
	if out := install(); !strings.Contains(out, "mailsift.toml.example") {
		t.Errorf("second install: %s", out)
	}
	if got, _ := os.ReadFile(cfg); string(got) != "# edited\n" {
		t.Fatalf("a second install overwrote the edited config")
	}
	if got, _ := os.ReadFile(cfg + ".example"); !bytes.Equal(got, want) {
		t.Fatalf("no example beside the edited config")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Stopping "make run" by its PID stops the milter: nothing keeps
// listening (with "go run", its child did).
func TestMakeRunStops(t *testing.T) {
	needMake(t)
	addr := freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "mailsift.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen = \"inet:%s\"\nhostname = \"mx.mailsift.test\"\n[dns]\nservers = [\"127.0.0.1:9\"]\n[admin]\nlisten = \"\"\n[greylist]\nenabled = false\n", addr)), 0o644)
	cmd := exec.Command("make", "-C", root, "run", "CONFIG="+cfg)
	logs := &syncBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(logs.String(), `"mailsift started"`) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("not started:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM) // make's PID, as a user's kill would
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("make did not exit after SIGTERM")
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if i > 100 {
			// Clean up what the test started: whoever listens there.
			t.Fatalf("the milter still listens on %s after make was stopped:\n%s", addr, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// make deps installs what the tests need without starting or enabling the
// host's services: the tests run their own Postfix and Redis. Played with
// stand-ins for apt-get, dpkg and systemctl on the PATH, so nothing is
// installed; as root, as make test runs.
func TestMakeDepsLeavesServicesOff(t *testing.T) {
	needMake(t)
	if os.Geteuid() != 0 {
		t.Skip("make deps installs as root")
	}
	if _, err := os.Stat("/usr/sbin/policy-rc.d"); err != nil {
		t.Skip("the recipe would write /usr/sbin/policy-rc.d on this host")
	}
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	fake := func(name, script string) {
		os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755)
	}
	logCall := `echo "$(basename $0) $*" >> ` + calls
	fake("apt-get", logCall+`; [ -e /usr/sbin/policy-rc.d ] || echo "apt-get without policy-rc.d" >> `+calls)
	fake("dpkg", logCall+"; exit 1") // nothing installed yet
	fake("systemctl", logCall)
	fake("deb-systemd-helper", logCall)
	fake("update-rc.d", logCall)
	fake("debconf-set-selections", "cat >/dev/null")
	for _, tool := range []string{"id", "chmod", "rm", "basename", "cat"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skip(tool + " not found")
		}
		os.Symlink(p, filepath.Join(bin, tool))
	}
	// Sendmail: extracted already.
	sm := t.TempDir()
	os.MkdirAll(filepath.Join(sm, "usr/libexec/sendmail"), 0o755)
	os.WriteFile(filepath.Join(sm, "usr/libexec/sendmail/sendmail"), []byte("#!/bin/sh\n"), 0o755)
	mk, _ := exec.LookPath("make")
	cmd := exec.Command(mk, "-C", root, "deps", "SM_ROOT="+sm)
	cmd.Env = append(os.Environ(), "PATH="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make deps: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(calls)
	log := string(b)
	if !strings.Contains(log, "apt-get install") || !strings.Contains(log, " redis-sentinel") {
		t.Fatalf("apt-get did not install redis-sentinel:\n%s", log)
	}
	for _, svc := range []string{"postfix", "redis-server", "redis-sentinel"} {
		if !strings.Contains(log, "systemctl disable --quiet "+svc+".service\n") {
			t.Errorf("%s.service not disabled after the install", svc)
		}
	}
	for _, bad := range []string{"systemctl enable", "systemctl start", "apt-get without policy-rc.d"} {
		if strings.Contains(log, bad) {
			t.Errorf("%q in:\n%s", bad, log)
		}
	}
	t.Logf("make deps:\n%s\ncalls:\n%s", out, log)
}
