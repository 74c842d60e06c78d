package trajlog

import "github.com/gradcouple/gradcouple/internal/pqguard"

// checkThrift keeps TestCheckThrift running against the thrift walker, which
// moved to internal/pqguard (where its own tests are).
func checkThrift(b []byte) (int, error) { return pqguard.Thrift(b) }
