package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ChecksumFileName is the checksum manifest of a checkpoint directory: one
// line "HEX  NAME" per file, HEX the SHA-256 of the file's bytes in lower-case
// hexadecimal, NAME the file name, sorted by name; the format of GNU
// coreutils' sha256sum, so that `sha256sum -c SHA256SUMS` run inside the
// directory checks it too. Save writes it last, from the bytes it wrote;
// Load checks every file it reads against it.
const ChecksumFileName = "SHA256SUMS"

// maxChecksumBytes bounds the manifest read: a line is at most 66 bytes
// plus a file name.
const maxChecksumBytes = 1 << 20

// checksums maps file names to their SHA-256 as read from a manifest, or as
// computed while writing.
type checksums map[string][sha256.Size]byte

// marshal returns the manifest text.
func (c checksums) marshal() []byte {
	var b bytes.Buffer
	for _, name := range sortedKeys(c) {
		sum := c[name]
		b.WriteString(hex.EncodeToString(sum[:]) + "  " + name + "\n")
	}
	return b.Bytes()
}

// hashingWriter passes writes to w and hashes them.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
}

func (hw hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	return n, err
}

// parseChecksums parses a manifest (name is its path, used in errors): lines
// "HEX  NAME" or "HEX *NAME" (sha256sum's binary mode), HEX 64 hexadecimal
// digits, NAME a plain file name listed once. A malformed manifest is a
// *ValidationError wrapping ErrChecksum.
func parseChecksums(data []byte, name string) (checksums, error) {
	bad := func(line int, format string, args ...any) (checksums, error) {
		return nil, &ValidationError{File: name, Field: "line " + strconv.Itoa(line), Msg: fmt.Sprintf(format, args...), Err: ErrChecksum}
	}
	out := checksums{}
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return bad(strings.Count(text, "\n")+1, "the manifest does not end with a newline (truncated?)")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		sumHex, file, ok := strings.Cut(line, " ")
		if !ok || len(sumHex) != 2*sha256.Size || len(file) < 2 || (file[0] != ' ' && file[0] != '*') {
			return bad(i+1, "%q is not \"SHA-256  FILE\" (64 hexadecimal digits, two spaces, a file name)", clipText(line, 120))
		}
		file = file[1:]
		var sum [sha256.Size]byte
		if _, err := hex.Decode(sum[:], []byte(sumHex)); err != nil {
			return bad(i+1, "%q is not 64 hexadecimal digits", clipText(sumHex, 80))
		}
		if file == "." || file == ".." || strings.ContainsAny(file, "/\\\x00") {
			return bad(i+1, "%q is not a file name of the directory", clipText(file, 80))
		}
		if _, dup := out[file]; dup {
			return bad(i+1, "%q is listed twice", clipText(file, 80))
		}
		out[file] = sum
	}
	return out, nil
}

// verifyChecksums checks the files names and optional of the checkpoint
// directory dir against its manifest, if it has one: each file present must
// be listed and have the listed SHA-256; an optional file the manifest lists
// must be present (a missing required file is left to the reader). A directory
// without a manifest (written before manifests, or made elsewhere, such as
// a Hugging Face download) is not checked and verifyChecksums returns
// false. A difference is a *ValidationError naming the file, wrapping
// ErrChecksum.
func verifyChecksums(dir string, names, optional []string) (bool, error) {
	mpath := filepath.Join(dir, ChecksumFileName)
	f, err := os.Open(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("loading checkpoint: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxChecksumBytes+1))
	f.Close()
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", mpath, err)
	}
	if len(data) > maxChecksumBytes {
		return false, &ValidationError{File: mpath, Msg: fmt.Sprintf("more than %d bytes; not a checksum manifest", maxChecksumBytes), Err: ErrChecksum}
	}
	sums, err := parseChecksums(data, mpath)
	if err != nil {
		return false, err
	}
	for _, name := range append(slices.Clone(names), optional...) {
		path := filepath.Join(dir, name)
		want, listed := sums[name]
		got, err := fileSHA256(path)
		if errors.Is(err, fs.ErrNotExist) {
			if listed && slices.Contains(optional, name) {
				return false, &ValidationError{File: path, Msg: fmt.Sprintf("missing, but %s lists it: the checkpoint is incomplete", ChecksumFileName), Err: ErrChecksum}
			}
			continue // a required file: the reader reports it missing
		}
		if err != nil {
			return false, err
		}
		if !listed {
			return false, &ValidationError{File: path, Msg: fmt.Sprintf("not listed in %s, so it was not written with the checkpoint", ChecksumFileName), Err: ErrChecksum}
		}
		if got != want {
			return false, &ValidationError{File: path,
				Msg: fmt.Sprintf("SHA-256 %s differs from %s's %s: the file is corrupt or was changed after the checkpoint was written",
					hex.EncodeToString(got[:6]), ChecksumFileName, hex.EncodeToString(want[:6])),
				Err: ErrChecksum}
		}
	}
	return true, nil
}

// fileSHA256 hashes the file at path.
func fileSHA256(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("reading %s: %w", path, err)
	}
	h.Sum(sum[:0])
	return sum, nil
}
