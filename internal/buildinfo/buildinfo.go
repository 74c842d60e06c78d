// Package buildinfo says which build of gradcouple is running: the module
// version and the version-control revision, commit time and modified flag
// that the Go toolchain stamps into the binary (runtime/debug.ReadBuildInfo).
// The same string is written into run.json and into the metadata of every
// parquet output, so a result can be traced to the code that produced it.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Version overrides the module version; a release build sets it with
// -ldflags "-X github.com/gradcouple/gradcouple/internal/buildinfo.Version=v1.2.3".
// It is set only by the linker.
var Version = ""

// MetadataKey is the parquet key-value metadata key that holds String().
const MetadataKey = "gradcouple.version"

// Info is what a binary knows of its own build.
type Info struct {
	Module   string // module version: "v1.2.3", a pseudo-version, or "" for (devel)
	Revision string // vcs.revision: the commit hash, "" when not built from a checkout
	Time     string // vcs.time: the commit time (RFC 3339)
	Modified bool   // vcs.modified: the work tree had uncommitted changes
	Go       string // Go version of the toolchain
}

// Read returns the Info of the running binary. Without build information
// (or without VCS stamping: go build -buildvcs=false, go test) the fields are
// empty and String is "devel".
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Module: Version}
	}
	return FromBuildInfo(bi, Version)
}

// FromBuildInfo extracts Info from bi; override, when not empty, replaces the
// module version.
func FromBuildInfo(bi *debug.BuildInfo, override string) Info {
	info := Info{Module: override, Go: bi.GoVersion}
	if info.Module == "" && bi.Main.Version != "(devel)" {
		info.Module = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one-token version written into outputs: the module version
// when there is one (a pseudo-version already names the commit and, with
// "+dirty", local changes), else "devel", followed by "+" and the first 12
// hex digits of the revision when the module version does not already
// contain them, and ".dirty" for a modified work tree. Examples: "v1.2.3",
// "v0.0.0-20261207134935-cfccffe910ec+dirty", "devel+cfccffe910ec.dirty",
// "devel".
func (i Info) String() string {
	v := i.Module
	if v == "" {
		v = "devel"
	}
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" || strings.Contains(v, rev) {
		return v
	}
	v += "+" + rev
	if i.Modified {
		v += ".dirty"
	}
	return v
}

// Long is the text of `gradcouple version`: the version, then the revision,
// commit time, modified flag and Go version on their own lines, "unknown"
// where the binary was built without VCS information.
func (i Info) Long() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gradcouple %s\n", i)
	rev, when := i.Revision, i.Time
	if rev == "" {
		rev = "unknown (built without VCS information: go build -buildvcs=true in a git checkout stamps it)"
	}
	if when == "" {
		when = "unknown"
	}
	fmt.Fprintf(&b, "revision: %s\n", rev)
	fmt.Fprintf(&b, "commit time: %s\n", when)
	fmt.Fprintf(&b, "modified: %t\n", i.Modified)
	if i.Go != "" {
		fmt.Fprintf(&b, "go: %s\n", i.Go)
	}
	return b.String()
}
