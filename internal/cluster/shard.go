// Package cluster connects gradcouple to the engines that run array jobs
// (Slurm job arrays, Kubernetes Indexed Jobs): which task of an array the
// current process is, and the job files that run a study or a sharded
// coupling on them.
package cluster

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoEngine: a shard was asked of the engine (--shard auto) but the
// process runs under none that says its task index.
var ErrNoEngine = errors.New("no array-job engine")

// Environment variables read by Shard.
const (
	// Slurm sets these in every task of a job array (sbatch --array).
	SlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	SlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	SlurmTaskMax   = "SLURM_ARRAY_TASK_MAX"
	SlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	// Kubernetes sets JOB_COMPLETION_INDEX in each pod of an Indexed Job;
	// the number of completions is not in the pod's environment, so it
	// comes from the flag (auto/N) or from ShardCountVar, which the emitted
	// manifests set.
	K8sIndex = "JOB_COMPLETION_INDEX"
	// ShardCountVar gives the number of shards where the engine does not.
	ShardCountVar = "GRADCOUPLE_SHARDS"
)

// Shard returns this process's shard index and the shard count from the
// spec: "i/n" as given, or "auto" / "auto/N" from the engine (getenv reads
// the environment): under Slurm, SLURM_ARRAY_TASK_ID with the array's
// SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX (index = id - min, count =
// max - min + 1; SLURM_ARRAY_TASK_COUNT must agree when set), which asks
// the array to be a contiguous range such as --array=0-7 or 1-8; when the
// count is known (auto/N, or GRADCOUPLE_SHARDS, which the scripts of
// WriteSlurm export) and the array is not all of it, as when one task is
// submitted again with sbatch --array=K, the index is the task id; under
// Kubernetes, JOB_COMPLETION_INDEX with the count N of "auto/N" or of
// GRADCOUPLE_SHARDS. A spec that names neither form, or "auto" outside an
// engine, is an error naming what it looked for.
func Shard(spec string, getenv func(string) string) (index, count int, err error) {
	rest, auto := strings.CutPrefix(spec, "auto")
	if !auto {
		return parseFixed(spec)
	}
	hint := 0
	switch {
	case rest == "":
	case strings.HasPrefix(rest, "/"):
		n, err := strconv.Atoi(rest[1:])
		if err != nil || n < 1 {
			return 0, 0, fmt.Errorf("shard %q: want auto, auto/N (N >= 1) or i/n", spec)
		}
		hint = n
	default:
		return 0, 0, fmt.Errorf("shard %q: want auto, auto/N (N >= 1) or i/n", spec)
	}
	if id := getenv(SlurmTaskID); id != "" {
		if hint == 0 {
			if v := getenv(ShardCountVar); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return 0, 0, fmt.Errorf("shard auto: %s=%q is not a shard count", ShardCountVar, v)
				}
				hint = n
			}
		}
		return slurmShard(id, getenv, hint)
	}
	if idx := getenv(K8sIndex); idx != "" {
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 {
			return 0, 0, fmt.Errorf("shard auto: %s=%q is not a task index", K8sIndex, idx)
		}
		n := hint
		if n == 0 {
			v := getenv(ShardCountVar)
			if n, err = strconv.Atoi(v); err != nil || n < 1 {
				return 0, 0, fmt.Errorf("shard auto: under a Kubernetes Indexed Job (%s=%d) the shard count comes from --shard auto/N or %s (got %q)", K8sIndex, i, ShardCountVar, v)
			}
		}
		if i >= n {
			return 0, 0, fmt.Errorf("shard auto: %s=%d is not below the shard count %d", K8sIndex, i, n)
		}
		return i, n, nil
	}
	return 0, 0, fmt.Errorf("shard auto: %w: none of %s (Slurm job array) or %s (Kubernetes Indexed Job) is set; give --shard i/n", ErrNoEngine, SlurmTaskID, K8sIndex)
}

// slurmShard is Shard under a Slurm job array.
func slurmShard(id string, getenv func(string) string, hint int) (int, int, error) {
	num := func(name string) (int, error) {
		v := getenv(name)
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("shard auto: %s=%q is not a number", name, v)
		}
		return n, nil
	}
	task, err := num(SlurmTaskID)
	if err != nil {
		return 0, 0, err
	}
	lo, err := num(SlurmTaskMin)
	if err != nil {
		return 0, 0, err
	}
	hi, err := num(SlurmTaskMax)
	if err != nil {
		return 0, 0, err
	}
	n := hi - lo + 1
	if lo < 0 || n < 1 || task < lo || task > hi {
		return 0, 0, fmt.Errorf("shard auto: %s=%d outside the array's %d-%d", SlurmTaskID, task, lo, hi)
	}
	if c := getenv(SlurmTaskCount); c != "" {
		if m, err := strconv.Atoi(c); err != nil || m != n {
			return 0, 0, fmt.Errorf("shard auto: %s=%s, but the array %d-%d has %d indices: use a contiguous --array range such as 0-%d", SlurmTaskCount, c, lo, hi, n, n-1)
		}
	}
	switch {
	case hint == 0 || hint == n:
		return task - lo, n, nil
	case task < hint:
		// Part of the array submitted again (sbatch --array=K replaces the
		// script's range): the task id is the shard, counted from 0 as
		// the arrays --emit writes count.
		return task, hint, nil
	}
	return 0, 0, fmt.Errorf("shard auto: %s=%d is not below the shard count %d (the arrays --emit writes count from 0)", SlurmTaskID, task, hint)
}

// parseFixed parses "i/n".
func parseFixed(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 <= i < n (e.g. 0/4), or auto under a Slurm array or Kubernetes Indexed Job", s)
	}
	return i, n, nil
}
