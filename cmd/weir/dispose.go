package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/weirstream/weir/internal/snapshot/format"
)

// writerFile matches the files a snapshot writer may leave in a savepoint
// directory besides those _metadata references: data files of subtasks
// that held nothing and temporary files of an interrupted write.
var writerFile = regexp.MustCompile(`^(_metadata|keyed-[0-9a-f]{32}-[0-9]+\.dat)(\.tmp-[0-9a-f]{12})?$`)

// disposeSavepoint deletes the savepoint at path (its directory or its
// _metadata file) and returns the directory. It refuses, deleting nothing,
// unless path is a complete savepoint (a valid _metadata of kind savepoint)
// whose directory holds only the savepoint's own files. _metadata goes
// first, so an interrupted disposal leaves an incomplete snapshot that no
// reader accepts, never a savepoint with missing files.
func disposeSavepoint(path string) (string, error) {
	s, err := format.Open(path)
	if err != nil {
		return "", fmt.Errorf("not disposing of %s: %w", path, err)
	}
	md := s.Metadata()
	dir, err := filepath.EvalSymlinks(s.Dir())
	if err != nil {
		return "", err
	}
	if md.Kind != format.Savepoint {
		return "", fmt.Errorf("not disposing of %s: it is a %s (owned and deleted by the engine), not a savepoint", dir, md.Kind)
	}
	own := map[string]bool{format.MetadataFile: true}
	for _, op := range md.Operators {
		for _, st := range op.States {
			for _, f := range st.Files {
				own[filepath.FromSlash(f.Path)] = true
			}
		}
	}
	var files, dirs []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		switch {
		case rel == ".":
			return nil
		case d.IsDir():
			dirs = append(dirs, p)
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("not disposing of %s: %s is not a regular file", dir, rel)
		case !own[rel] && !writerFile.MatchString(rel):
			return fmt.Errorf("not disposing of %s: it holds %s, which is not part of the savepoint", dir, rel)
		}
		if rel != format.MetadataFile {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := os.Remove(filepath.Join(dir, format.MetadataFile)); err != nil {
		return "", fmt.Errorf("cannot dispose of %s: %w", dir, err)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return "", fmt.Errorf("disposing of %s: its _metadata is deleted but %w", dir, err)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // children before parents
	for _, d := range append(dirs, dir) {
		if err := os.Remove(d); err != nil {
			return "", fmt.Errorf("disposing of %s: its files are deleted but %w", dir, err)
		}
	}
	return dir, nil
}
