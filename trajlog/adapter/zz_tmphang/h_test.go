package zz
import ("testing";"os";"bytes";"time";"fmt";"github.com/gradcouple/gradcouple/trajlog/adapter")
func TestHang(t *testing.T){
 d,_ := os.ReadFile("/tmp/hang.parquet")
 t0 := time.Now()
 res, err := adapter.ReadTRL(bytes.NewReader(d), "completions_00001.parquet", adapter.Options{})
 fmt.Println(time.Since(t0), err, res != nil)
}
