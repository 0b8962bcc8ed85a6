package testenv

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// metadataVersion is the Version field of a wheel's METADATA; the first
// match is the header's, which comes before the description.
var metadataVersion = regexp.MustCompile(`(?m)^Version: .*$`)

// BumpWheel returns a new release of the wheel filename (content data)
// that is the same wheel with only its version changed to version, and
// its file name: the version in the file name, in the names of the
// .dist-info (and .data) folders, and in METADATA's Version, and RECORD
// rewritten to match (each path renamed, and each hashed file's sha256 and
// size taken again; RECORD's own line has no hash, as the wheel format
// says). Every other file keeps its bytes, name and order.
func BumpWheel(t testing.TB, filename string, data []byte, version string) (string, []byte) {
	t.Helper()
	parts := strings.Split(strings.TrimSuffix(filename, ".whl"), "-")
	if !strings.HasSuffix(filename, ".whl") || (len(parts) != 5 && len(parts) != 6) {
		t.Fatalf("bump wheel %s: not a wheel's file name (NAME-VERSION[-BUILD]-PY-ABI-PLATFORM.whl)", filename)
	}
	old := parts[1]
	parts[1] = version
	newName := strings.Join(parts, "-") + ".whl"

	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("bump wheel %s: %v", filename, err)
	}
	// The .dist-info folder is found in the wheel, not made from the file
	// name: the two may spell the distribution differently.
	var oldInfo string
	for _, f := range zr.File {
		if top, _, ok := strings.Cut(f.Name, "/"); ok && strings.HasSuffix(top, ".dist-info") {
			if oldInfo != "" && oldInfo != top+"/" {
				t.Fatalf("bump wheel %s: two .dist-info folders, %s and %s", filename, oldInfo, top)
			}
			oldInfo = top + "/"
		}
	}
	dist, ok := strings.CutSuffix(oldInfo, "-"+old+".dist-info/")
	if !ok {
		t.Fatalf("bump wheel %s: no %s .dist-info folder (found %q)", filename, old, oldInfo)
	}
	renames := map[string]string{
		oldInfo:                     dist + "-" + version + ".dist-info/",
		dist + "-" + old + ".data/": dist + "-" + version + ".data/",
	}
	rename := func(p string) string {
		for from, to := range renames {
			if rest, ok := strings.CutPrefix(p, from); ok {
				return to + rest
			}
		}
		return p
	}

	// The content of each file, in the wheel's order, and the new content
	// of each file by its new name.
	orig := make([][]byte, len(zr.File))
	content := map[string][]byte{}
	for i, f := range zr.File {
		orig[i] = mustRead(t, f)
		content[rename(f.Name)] = orig[i]
	}
	info := rename(oldInfo)
	meta := content[info+"METADATA"]
	loc := metadataVersion.FindIndex(meta)
	if loc == nil {
		t.Fatalf("bump wheel %s: no Version in %sMETADATA", filename, oldInfo)
	}
	content[info+"METADATA"] = slices.Concat(meta[:loc[0]], []byte("Version: "+version), meta[loc[1]:])
	if _, ok := content[info+"RECORD"]; !ok {
		t.Fatalf("bump wheel %s: no %sRECORD", filename, oldInfo)
	}
	content[info+"RECORD"] = bumpRecord(t, filename, content[info+"RECORD"], rename, content)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, f := range zr.File {
		name := rename(f.Name)
		if name == f.Name && bytes.Equal(content[name], orig[i]) {
			if err := zw.Copy(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h := f.FileHeader
		h.Name, h.Extra = name, nil
		// zip.Writer sets the sizes and checksum (the 32-bit fields from
		// the 64-bit ones) as the file is written.
		h.CRC32, h.CompressedSize64, h.UncompressedSize64 = 0, 0, 0

		w, err := zw.CreateHeader(&h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(content[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return newName, buf.Bytes()
}

// bumpRecord rewrites a wheel's RECORD: each path renamed, and each line
// that has a hash given the sha256 and size of the file's new content.
func bumpRecord(t testing.TB, filename string, record []byte, rename func(string) string, content map[string][]byte) []byte {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(record))
	r.FieldsPerRecord = 3
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("bump wheel %s: RECORD: %v", filename, err)
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	for _, row := range rows {
		row[0] = rename(row[0])
		if row[1] != "" {
			b, ok := content[row[0]]
			if !ok {
				t.Fatalf("bump wheel %s: RECORD lists %s, which the wheel does not hold", filename, row[0])
			}
			sum := sha256.Sum256(b)
			row[1] = "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:])
			row[2] = strconv.Itoa(len(b))
		}
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// mustRead returns the uncompressed content of f.
func mustRead(t testing.TB, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
