package userfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ciphermq/ciphermq/broker/access"
)

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	want := &access.File{Version: 1, Users: []access.User{
		{Name: "alice", Tags: []string{access.TagAdministrator}, Permissions: map[string]access.Permissions{"/": {Write: ".*"}}},
		{Name: "bob"},
	}}
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	if got := perm(t, path); got != 0o600 {
		t.Errorf("saved mode = %o, want 600", got)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, want %+v", got, want)
	}
}

func TestLoadRefusesGroupOrOtherAccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	if err := Save(path, &access.File{Version: 1}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []fs.FileMode{0o640, 0o604, 0o620, 0o602, 0o644, 0o660, 0o666} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %o: Load = %v, want a refusal saying chmod 600 %s", m, err, path)
		}
	}
	for _, m := range []fs.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Errorf("mode %o: Load = %v", m, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v, want not a regular file", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": 1, "users": [{"name": "a", "tags": ["root"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if err == nil || !strings.Contains(err.Error(), bad+": ") || !strings.Contains(err.Error(), `unknown tag "root"`) {
		t.Errorf("invalid file: %v, want the path and the parse error", err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Error("an invalid file must not look missing")
	}
}

func TestSaveReplacesAtomicallyAndKeeps0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.json")
	// An existing file with a wider mode: Save replaces the file itself
	// (rename), so the result has 0600 whatever the old mode was.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, &access.File{Version: 1, Users: []access.User{{Name: "a"}}}); err != nil {
		t.Fatal(err)
	}
	if got := perm(t, path); got != 0o600 {
		t.Errorf("mode after replace = %o, want 600", got)
	}
	if f, err := Load(path); err != nil || len(f.Users) != 1 {
		t.Fatalf("Load after replace = %+v, %v", f, err)
	}
	// An invalid file is refused and the old one stays.
	before, _ := os.ReadFile(path)
	err := Save(path, &access.File{Version: 1, Users: []access.User{{Name: "bad name"}}})
	if err == nil {
		t.Fatal("Save wrote an invalid file")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("a refused Save changed the file")
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "users.json" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestUpdateStartsEmptyAndFnErrorWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	boom := errors.New("boom")
	if err := Update(path, func(*access.File) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Update created the file: %v", err)
	}
	err := Update(path, func(f *access.File) error {
		if f.Version != access.FileVersion || len(f.Users) != 0 {
			t.Errorf("missing file starts as %+v, want empty version %d", f, access.FileVersion)
		}
		f.Users = append(f.Users, access.User{Name: "first"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if f, err := Load(path); err != nil || len(f.Users) != 1 || f.Users[0].Name != "first" {
		t.Fatalf("Load = %+v, %v", f, err)
	}
	if got := perm(t, path+".lock"); got != 0o600 {
		t.Errorf("lock file mode = %o, want 600", got)
	}
}

func TestUpdateRefusesAnUnreadableExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, []byte(`{"version": 1, "users": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	called := false
	err := Update(path, func(*access.File) error { called = true; return nil })
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || called {
		t.Fatalf("Update over a 0644 file = %v (fn called: %v), want the mode refusal before fn", err, called)
	}
}

// TestConcurrentUpdatesAllLand: without the lock, two Updates that read the
// same version would each write back their own addition and one would be
// lost.
func TestConcurrentUpdatesAllLand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Update(path, func(f *access.File) error {
				f.Users = append(f.Users, access.User{Name: fmt.Sprintf("user%02d", i)})
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Users) != n {
		t.Fatalf("%d users after %d concurrent Updates, want all %d: %+v", len(f.Users), n, n, f.Users)
	}
	for i, u := range f.Users {
		if want := fmt.Sprintf("user%02d", i); u.Name != want {
			t.Errorf("user %d = %q, want %q", i, u.Name, want)
		}
	}
}
