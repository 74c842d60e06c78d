package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	settings := func(rev, when, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: when}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "cfccffe910ec290908d5e6b36e10b052d079aebc"
	for _, c := range []struct {
		name     string
		bi       debug.BuildInfo
		override string
		want     string
	}{
		{"no build info", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "devel"},
		{"release", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "", "v1.2.3"},
		{"override", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v9.9.9", "v9.9.9"},
		// go build in a checkout (Go >= 1.24) stamps a pseudo-version that names the commit.
		{"pseudo-version", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207134935-cfccffe910ec+dirty"},
			Settings: settings(rev, "2026-12-07T13:49:35Z", "true")}, "", "v0.0.0-20261207134935-cfccffe910ec+dirty"},
		{"devel with revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings(rev, "2026-12-07T13:49:35Z", "false")}, "", "devel+cfccffe910ec"},
		{"devel modified", debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings(rev, "2026-12-07T13:49:35Z", "true")}, "", "devel+cfccffe910ec.dirty"},
		{"release built from a modified tree", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"},
			Settings: settings(rev, "2026-12-07T13:49:35Z", "true")}, "", "v1.2.3+cfccffe910ec.dirty"},
	} {
		if got := FromBuildInfo(&c.bi, c.override).String(); got != c.want {
			t.Errorf("%s: String() = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLong(t *testing.T) {
	bi := debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "cfccffe910ec290908d5e6b36e10b052d079aebc"},
		{Key: "vcs.time", Value: "2026-12-07T13:49:35Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := FromBuildInfo(&bi, "").Long()
	want := "gradcouple devel+cfccffe910ec.dirty\n" +
		"revision: cfccffe910ec290908d5e6b36e10b052d079aebc\n" +
		"commit time: 2026-12-07T13:49:35Z\n" +
		"modified: true\n" +
		"go: go1.26.8\n"
	if got != want {
		t.Errorf("Long() =\n%s\nwant\n%s", got, want)
	}
	got = FromBuildInfo(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "").Long()
	if !strings.Contains(got, "revision: unknown") || !strings.Contains(got, "-buildvcs=true") {
		t.Errorf("without VCS information Long() = %q, want it to say the revision is unknown and how to stamp it", got)
	}
}
