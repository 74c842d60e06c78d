package trajlog

import (
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// pqList is the state of one token-id list column (prompt_ids, action_ids)
// being read. Its values carry repetition and definition levels: a value with
// repetition level 0 starts a row, one with level 1 continues the row's list.
// The definition level says how far down the schema path the value is
// defined: listDef and above is an element entry of a non-empty list, maxDef
// a present element, listDef..maxDef-1 a null element, below listDef a row
// whose list is null or empty.
type pqList struct {
	f       *listField
	leaf    int
	listDef int
	maxDef  int
	int64s  bool // INT64 elements, as pyarrow writes Python ints

	pages parquet.Pages
	page  parquet.Page
	vr    parquet.ValueReader
	done  bool            // the chunk's pages are exhausted
	vals  []parquet.Value // decoded values; vals[pos:n] not yet consumed
	pos   int
	n     int
	offs  []int // scratch: start of each row's ids in the batch's arena
	hint  int   // ids in the previous batch, to size the next arena
}

// listColumn checks that c, the top-level column of a token-id list, is a
// list of integers in one of the layouts writers use: the 3-level LIST of
// parquet's specification (parquet-go, pyarrow, DuckDB: optional group (LIST)
// { repeated group list { [optional|required] int32|int64 element } }), the
// 2-level legacy form (a group whose one child is a repeated integer), or a
// bare repeated integer column. It returns the leaf and its levels, or why c
// is not such a list.
func listColumn(c *parquet.Column) (l *pqList, msg string) {
	node, level, listDef, repeated := c, 0, 0, 0
	for {
		switch {
		case node.Repeated():
			level++
			listDef = level
			repeated++
		case node.Optional():
			level++
		}
		if node.Leaf() {
			break
		}
		kids := node.Columns()
		if len(kids) != 1 {
			return nil, fmt.Sprintf("is a group of %d columns, want a list of INT32 or INT64 token ids", len(kids))
		}
		node = kids[0]
	}
	t := node.Type()
	got := t.Kind().String()
	var lt format.LogicalTypeValue
	if l := t.LogicalType(); l != nil {
		lt = l.Value
		got += " (" + lt.String() + ")"
	}
	if repeated != 1 {
		if repeated == 0 {
			return nil, fmt.Sprintf("is a single %s, want a list of INT32 or INT64 token ids", got)
		}
		return nil, fmt.Sprintf("is a list nested %d deep, want a flat list of INT32 or INT64 token ids", repeated)
	}
	bad := fmt.Sprintf("is a list of %s, want a list of INT32 or INT64 token ids", got)
	if k := t.Kind(); k != parquet.Int32 && k != parquet.Int64 {
		return nil, bad
	}
	switch it := lt.(type) {
	case nil:
	case *format.IntType:
		if !it.IsSigned && int(it.BitWidth) >= 32 {
			return nil, bad // unsigned 32/64-bit values can exceed int32
		}
	default:
		return nil, bad
	}
	if node.MaxRepetitionLevel() != 1 || node.MaxDefinitionLevel() != level {
		return nil, fmt.Sprintf("corrupt schema: levels %d/%d, want 1/%d", node.MaxRepetitionLevel(), node.MaxDefinitionLevel(), level)
	}
	return &pqList{
		leaf:    node.Index(),
		listDef: listDef,
		maxDef:  level,
		int64s:  t.Kind() == parquet.Int64,
		vals:    make([]parquet.Value, valueBatch),
	}, ""
}

// reset prepares the column for the row group whose pages are given.
func (c *pqList) reset(pages parquet.Pages) {
	c.pages, c.done, c.pos, c.n = pages, false, 0, 0
}

func (c *pqList) release() {
	if c.page != nil {
		parquet.Release(c.page)
	}
	c.page, c.vr = nil, nil
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
	c.pos, c.n = 0, 0
}

// fill decodes more values into c.vals. It returns false at the end of the
// column chunk.
func (c *pqList) fill(p *parquetFile) (bool, error) {
	for c.pos == c.n {
		if c.vr == nil {
			if c.done {
				return false, nil
			}
			page, err := c.pages.ReadPage()
			if err == io.EOF {
				c.done = true
				return false, nil
			}
			if err != nil {
				return false, &ValidationError{File: p.name, Field: c.f.name, Msg: "corrupt parquet page: " + err.Error(), Err: err}
			}
			c.page, c.vr = page, page.Values()
		}
		k, err := c.vr.ReadValues(c.vals)
		c.pos, c.n = 0, k
		switch {
		case err == io.EOF:
			// The values are integers held in the Value itself: they
			// outlive the page.
			if c.page != nil {
				parquet.Release(c.page)
			}
			c.page, c.vr = nil, nil
		case err != nil:
			return false, &ValidationError{File: p.name, Field: c.f.name, Msg: "corrupt parquet page: " + err.Error(), Err: err}
		case k == 0:
			return false, &ValidationError{File: p.name, Field: c.f.name, Msg: "corrupt parquet page: no values decoded"}
		}
	}
	return true, nil
}

// read decodes the lists of len(dst) rows into c's field of dst, every row's
// ids a slice of one new array (nil for a row without ids). last says that
// these are the row group's last rows, so that the column must end with
// them. Like readColumn it returns the index of the first bad row and its
// error, or -1 with an error about the column as a whole; rows before a bad
// one are filled.
func (p *parquetFile) readList(c *pqList, dst []Record, last bool) (bad int, err error) {
	ids := make([]int32, 0, c.hint)
	offs := c.offs[:0]
	defer func() {
		if e := recover(); e != nil {
			bad, err = -1, &ValidationError{File: p.name, Field: c.f.name, Msg: fmt.Sprintf("corrupt parquet page: decoder failed: %v", e)}
		}
		// Hand out the ids of the rows read, each capped so that an append
		// by the caller cannot run into the next row's.
		for i, start := range offs {
			end := len(ids)
			if i+1 < len(offs) {
				end = offs[i+1]
			}
			if end == start {
				*c.f.ids(&dst[i]) = nil
			} else {
				*c.f.ids(&dst[i]) = ids[start:end:end]
			}
		}
		c.offs, c.hint = offs[:0], len(ids)
	}()
	rowErr := func(row int, format string, args ...any) (int, error) {
		return row, &ValidationError{File: p.name, Row: p.row + int64(row) + 1, Field: c.f.name, Msg: fmt.Sprintf(format, args...)}
	}
	row := -1 // index in dst of the row being read
	for {
		if c.pos == c.n {
			more, err := c.fill(p)
			if err != nil {
				return -1, err
			}
			if !more {
				break
			}
		}
		v := &c.vals[c.pos]
		rep, def := v.RepetitionLevel(), v.DefinitionLevel()
		switch {
		case rep == 0:
			if row+1 == len(dst) {
				if last {
					return -1, &ValidationError{File: p.name, Row: p.row + int64(len(dst)) + 1, Field: c.f.name,
						Msg: fmt.Sprintf("corrupt parquet column: holds more rows than the %d of its row group", p.rgRows)}
				}
				return row + 1, nil // the first row of the next batch
			}
			row++
			offs = append(offs, len(ids))
		case rep != 1:
			return rowErr(max(row, 0), "corrupt parquet page: repetition level %d, the column has at most 1", rep)
		case row < 0:
			return rowErr(0, "corrupt parquet page: the row group's first value continues a list")
		}
		c.pos++
		switch {
		case def > c.maxDef:
			return rowErr(row, "corrupt parquet page: definition level %d, the column has at most %d", def, c.maxDef)
		case def < c.listDef:
			// A null or empty list: no ids. It cannot continue a list.
			if rep != 0 {
				return rowErr(row, "corrupt parquet page: an empty list inside a list")
			}
			continue
		case def < c.maxDef:
			return rowErr(row, "null token id at index %d", len(ids)-offs[row])
		}
		var x int64
		switch {
		case v.Kind() == parquet.Int32 && !c.int64s:
			x = int64(v.Int32())
		case v.Kind() == parquet.Int64 && c.int64s:
			x = v.Int64()
		default:
			return rowErr(row, "corrupt value of kind %v", v.Kind())
		}
		k := len(ids) - offs[row]
		switch {
		case x < 0:
			return rowErr(row, "negative token id %d at index %d", x, k)
		case x > math.MaxInt32:
			return rowErr(row, "token id %d at index %d does not fit in int32", x, k)
		case k >= MaxTokenIDs:
			return rowErr(row, "more than %d token ids", MaxTokenIDs)
		}
		ids = append(ids, int32(x))
	}
	if row+1 < len(dst) {
		return rowErr(row+1, "corrupt parquet column: ends after %d of the %d rows of its row group", p.rgRows-p.left+int64(row)+1, p.rgRows)
	}
	return len(dst), nil
}
